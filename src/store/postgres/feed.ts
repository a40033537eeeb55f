import pg from 'pg';
import type { TenancyChange, TenancyFeed } from '../../tenancy/ports.js';
import { changeFrom } from '../rows.js';
import { ChangeSubscribers } from '../subscribers.js';

export interface PostgresFeedOptions {
  /** The NOTIFY channel (default `baimo_tenancy`); channels are per database. */
  readonly channel?: string;
  /** Reconnect delays: the first, doubling up to the last (defaults 100 ms and 5 s), each with jitter. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * How often the listening connection is checked with a query (default 10 s): a connection
   * silently cut (a NAT or a failover dropping it without a reset) would otherwise hear nothing,
   * never erring. No answer within the same time counts as lost.
   */
  readonly heartbeatMs?: number;
  /** The listening connection's application_name (default `baimo-feed`), as pg_stat_activity shows it. */
  readonly applicationName?: string;
}

/**
 * Key and team changes between hubs over PostgreSQL LISTEN/NOTIFY. Changes are published through
 * the stores' pool; one dedicated connection listens. When it is lost, it reconnects with backoff
 * and, once listening again, tells its subscribers `{ kind: 'all' }`: notifications sent meanwhile
 * were missed for good (PostgreSQL keeps none for a session that is gone).
 */
export class PostgresTenancyFeed implements TenancyFeed {
  private client: pg.Client | undefined;
  private readonly subscribers = new ChangeSubscribers();
  private readonly channel: string;
  private closed = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** How many times the feed has started listening (1 until a connection is lost). */
  connections = 0;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly o: PostgresFeedOptions,
  ) {
    this.channel = o.channel ?? 'baimo_tenancy';
  }

  /** Listens before returning: a hub that cannot hear changes does not start. */
  static async open(url: string, pool: pg.Pool, o: PostgresFeedOptions = {}): Promise<PostgresTenancyFeed> {
    const feed = new PostgresTenancyFeed(url, pool, o);
    await feed.listen();
    return feed;
  }

  async publish(change: TenancyChange): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify(change)]);
  }

  subscribe(fn: (c: TenancyChange) => void): () => void {
    return this.subscribers.add(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    this.subscribers.clear();
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }


  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: this.o.applicationName ?? 'baimo-feed', keepAlive: true });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (m) => {
      if (m.channel !== this.channel || !m.payload) return;
      const c = changeFrom(m.payload);
      if (c) this.subscribers.deliver(c);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    this.connections++;
    this.watch(client);
    if (this.connections > 1) this.subscribers.deliver({ kind: 'all' });
  }

  private watch(client: pg.Client): void {
    const every = this.o.heartbeatMs ?? 10_000;
    clearInterval(this.heartbeat);
    let waiting = false;
    this.heartbeat = setInterval(() => {
      if (waiting) return;
      waiting = true;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), every)));
      Promise.race([client.query('SELECT 1'), late])
        .catch(() => this.lost(client))
        .finally(() => {
          clearTimeout(timer);
          waiting = false;
        });
    }, every);
    this.heartbeat.unref();
  }

  private lost(client: pg.Client): void {
    if (client !== this.client) return;
    this.client = undefined;
    clearInterval(this.heartbeat);
    void client.end().catch(() => undefined);
    this.reconnect();
  }

  private reconnect(): void {
    if (this.closed) return;
    const min = this.o.minBackoffMs ?? 100;
    const delay = Math.min(this.o.maxBackoffMs ?? 5000, min * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures++;
    this.retry = setTimeout(() => {
      this.listen().catch(() => this.reconnect());
    }, delay);
    this.retry.unref();
  }
}
