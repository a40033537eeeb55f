import { Redis } from 'ioredis';
import type { TenancyChange, TenancyFeed } from '../../tenancy/ports.js';
import { changeFrom } from '../rows.js';
import { ChangeSubscribers } from '../subscribers.js';

export interface RedisFeedOptions {
  /** The pub/sub channel (default `baimo:tenancy`); hubs sharing a Redis but not a database use different ones. */
  readonly channel?: string;
  /** Reconnect delays: the first, doubling up to the last (defaults 100 ms and 5 s), each with jitter. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** The listening connection's name (default `baimo-feed`), as CLIENT LIST shows it. */
  readonly connectionName?: string;
  /**
   * How often the listening connection is checked with a PING (default 10 s): a connection
   * silently cut would otherwise hear nothing, never erring. No answer within the same time
   * counts as lost: it is closed and made again.
   */
  readonly heartbeatMs?: number;
}

/**
 * Key and team changes between hubs over Redis pub/sub: one connection subscribes, another
 * publishes. A lost connection reconnects with backoff (ioredis's retry strategy); the
 * subscription is made again by this class rather than by ioredis, so that `{ kind: 'all' }`
 * goes to subscribers only once the channel is heard again: messages published meanwhile were
 * missed for good (pub/sub keeps nothing).
 */
export class RedisTenancyFeed implements TenancyFeed {
  private readonly subscribers = new ChangeSubscribers();
  private readonly channel: string;
  private readonly sub: Redis;
  private readonly pub: Redis;
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  /** How many times the feed has started listening (1 until a connection is lost). */
  connections = 0;

  private constructor(
    url: string,
    private readonly o: RedisFeedOptions,
  ) {
    this.channel = o.channel ?? 'baimo:tenancy';
    const retryStrategy = (times: number) => Math.min(o.maxBackoffMs ?? 5000, (o.minBackoffMs ?? 100) * 2 ** (times - 1)) * (0.5 + Math.random() / 2);
    this.sub = new Redis(url, { lazyConnect: true, autoResubscribe: false, connectionName: o.connectionName ?? 'baimo-feed', retryStrategy, keepAlive: 10_000 });
    // An admin change waits at most one retry for Redis; the hub's periodic reload covers a lost publication.
    this.pub = new Redis(url, { lazyConnect: true, retryStrategy, maxRetriesPerRequest: 1 });
    // Connection errors are reconnected; without a listener ioredis would print each one.
    this.sub.on('error', () => undefined);
    this.pub.on('error', () => undefined);
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const c = changeFrom(message);
      if (c) this.subscribers.deliver(c);
    });
  }

  /** Subscribes before returning: a hub that cannot hear changes does not start. */
  static async open(url: string, o: RedisFeedOptions = {}): Promise<RedisTenancyFeed> {
    const feed = new RedisTenancyFeed(url, o);
    try {
      await Promise.all([feed.sub.connect(), feed.pub.connect()]);
      await feed.listen();
    } catch (err) {
      await feed.close();
      throw err;
    }
    // Every later 'ready' is a reconnection.
    feed.sub.on('ready', () => void feed.listen().catch(() => feed.sub.disconnect(true)));
    feed.watch();
    return feed;
  }

  async publish(change: TenancyChange): Promise<void> {
    await this.pub.publish(this.channel, JSON.stringify(change));
  }

  subscribe(fn: (c: TenancyChange) => void): () => void {
    return this.subscribers.add(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.subscribers.clear();
    this.sub.disconnect();
    this.pub.disconnect();
  }

  private async listen(): Promise<void> {
    await this.sub.subscribe(this.channel);
    if (this.closed) return;
    this.connections++;
    if (this.connections > 1) this.subscribers.deliver({ kind: 'all' });
  }

  private watch(): void {
    const every = this.o.heartbeatMs ?? 10_000;
    let waiting = false;
    this.heartbeat = setInterval(() => {
      // Only while connected: ioredis is already reconnecting otherwise.
      if (waiting || this.sub.status !== 'ready') return;
      waiting = true;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), every)));
      Promise.race([this.sub.ping(), late])
        .catch(() => {
          if (!this.closed) this.sub.disconnect(true);
        })
        .finally(() => {
          clearTimeout(timer);
          waiting = false;
        });
    }, every);
    this.heartbeat.unref();
  }

}
