import type { TenancyChange } from '../tenancy/ports.js';

/**
 * Who a change feed (store/postgres/feed.ts, store/redis/feed.ts) tells of each change heard:
 * every subscriber, one's failure being its own.
 */
export class ChangeSubscribers {
  private readonly fns = new Set<(c: TenancyChange) => void>();

  /** Adds `fn`; returns the unsubscribe. */
  add(fn: (c: TenancyChange) => void): () => void {
    this.fns.add(fn);
    return () => void this.fns.delete(fn);
  }

  deliver(c: TenancyChange): void {
    for (const fn of this.fns) {
      try {
        fn(c);
      } catch {
        // One subscriber's failure is its own.
      }
    }
  }

  clear(): void {
    this.fns.clear();
  }
}
