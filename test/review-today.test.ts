/**
 * Review of the work merged on 6 December (arena votes as human judgements, the PostgreSQL move of
 * `arena_votes` into `eval_judgements`, `/metrics` across `--workers`): each confirmed finding as a
 * test that failed before its fix, and the rolling-upgrade questions the review asked, answered by
 * tests against this machine's PostgreSQL.
 */
import type { Worker } from 'node:cluster';
import pg from 'pg';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleFrom } from '../src/server/assemble.js';
import { MetricsRelay } from '../src/server/worker-metrics.js';
import { Metrics } from '../src/usage/metrics.js';
import type { MetricsGroup, MetricsJSON } from '../src/usage/metrics.js';
import { MIGRATIONS, migrate, TYPES } from '../src/store/postgres/schema.js';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

const ADMIN = 'sk-baimo-admin-review-today-00000';
const YAML = "providers:\n  m: { baseURL: 'http://127.0.0.1:9/v1' }\nmodels:\n  chat: { deployments: [{ provider: m, model: x }] }\n";
const ENV = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN };

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

async function get(url: string, path: string, key = ADMIN) {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, any> };
}

describe('GET /v1/evals/judgements with hostile query values, on both stores', () => {
  const hubs: [string, TestHub<any>][] = [];
  beforeAll(async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    hubs.push(['embedded', await startTestHub(YAML, ENV)], ['PostgreSQL', await startSharedTestHub(YAML, { databaseUrl: db.url }, ENV)]);
  }, 30_000);
  afterAll(async () => {
    for (const [, h] of hubs) await h.dispose();
  });

  // Finding: on PostgreSQL a NUL in `model=` reached the query and PostgreSQL refused it (text
  // holds no NUL): a 500 "internal error" where the client sent a bad value.
  it('a model filter with a NUL or another control character is a 400 naming the parameter, never a 500', async () => {
    for (const [name, hub] of hubs) {
      for (const q of ['model=%00', 'model=m%2Fa%00', 'model=m%2Fa%0D%0AX-Injected%3A%201', 'model=%7F']) {
        const r = await get(hub.url, `/v1/evals/judgements?${q}`);
        expect({ name, q, status: r.status }).toEqual({ name, q, status: 400 });
        expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param: 'model' });
        expect(r.text).not.toContain('\r\n');
      }
      // A filter a model name may hold still lists (nothing voted yet: an empty page).
      const ok = await get(hub.url, `/v1/evals/judgements?model=${encodeURIComponent('m/模型 v2')}`);
      expect({ name, status: ok.status, data: ok.body.data }).toEqual({ name, status: 200, data: [] });
    }
  });

  // Finding: a page of judgements held up to 100 of them, each up to 3 × 32 KB of text, which
  // JSON can grow sixfold (a control character is written \u0001): a key could have 100 such
  // votes listed at once as a ~60 MB answer, again for every request in parallel.
  it('a page of judgements is bounded in bytes whatever their texts hold; paging still returns each once', async () => {
    for (const [name, hub] of hubs) {
      const key = ((await (await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hoarder' }) })).json()) as { key: string }).key;
      const text = (c: string) => c.repeat(32 * 1024);
      for (let i = 0; i < 30; i++) {
        const r = await fetch(`${hub.url}/v1/arena/votes`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ models: ['m/a', 'chat'], winner: 'a', prompt: text('\u0001'), answers: [text('\u0002'), text('"')] }),
        });
        expect(r.status).toBe(201);
      }
      const seen: string[] = [];
      let after = '';
      for (let pages = 0; pages < 30; pages++) {
        const r = await get(hub.url, `/v1/evals/judgements?limit=100${after}`, key);
        expect(r.status).toBe(200);
        expect({ name, bytes: r.text.length <= 8 * 1024 * 1024 }).toEqual({ name, bytes: true });
        expect(r.body.data.length).toBeGreaterThan(0);
        seen.push(...r.body.data.map((j: Record<string, any>) => j.id));
        // Whole judgements: a page leaves the rest to the next, it never cuts one.
        expect(r.body.data.every((j: Record<string, any>) => j.prompt.length === 32 * 1024)).toBe(true);
        if (!r.body.has_more) break;
        after = `&after=${r.body.last_id}`;
      }
      expect({ name, count: seen.length, distinct: new Set(seen).size }).toEqual({ name, count: 30, distinct: 30 });
    }
  }, 60_000);

  // Finding (the same, on the runs beside them): a NUL in a run id or a page cursor was a 500 on PostgreSQL.
  // The same held for every route that takes an id or a filter from the URL: refused once, where
  // the path part is decoded and the query parsed (server/http.ts), with a 400 naming the URL.
  it('an id, a cursor or a filter with a NUL or another control character is a 400 on both stores, never a 500', async () => {
    for (const [name, hub] of hubs) {
      for (const [path, status] of [
        ['/v1/evals/runs/run%00x', 400],
        ['/v1/evals/runs/run%00x/results', 400],
        ['/v1/evals/runs/run%00x/report?format=html', 400],
        ['/v1/evals/compare?a=run%00x&b=run%00y', 400],
        ['/v1/evals/runs?after=%00', 400],
        ['/v1/files/file%00x', 400],
        ['/v1/files?after=file%00', 400],
        ['/v1/vector_stores/vs%00x', 400],
        ['/v1/vector_stores?after=%01', 400],
        ['/v1/responses/resp%00x', 400],
        ['/v1/me/requests/req%00x', 400],
        ['/v1/me/requests?model=%00', 400],
        ['/v1/me/usage?model=a%00', 400],
        ['/admin/requests?model=%00', 400],
        ['/v1/models/m%00', 400],
        ['/v1/evals/runs/run%09x', 400],
      ] as const) {
        const r = await get(hub.url, path);
        expect({ name, path, status: r.status }).toEqual({ name, path, status });
        expect(r.body.error.type).toBe('invalid_request_error');
      }
      const cancel = await fetch(`${hub.url}/v1/evals/runs/run%00x/cancel`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      expect({ name, status: cancel.status }).toEqual({ name, status: 400 });
    }
  });
});

describe('the PostgreSQL move of arena_votes during a rolling upgrade', () => {
  /** A database at the schema just before the judgements migration, with `votes` old votes. */
  async function oldDatabase(votes: number) {
    const db = await createTestDatabase();
    dbs.push(db);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const v = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE eval_judgements'));
    expect(v).toBeGreaterThan(0);
    await c.query('CREATE TABLE baimo_schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    for (let i = 0; i < v; i++) {
      await c.query(MIGRATIONS[i]!);
      await c.query('INSERT INTO baimo_schema_migrations (version) VALUES ($1)', [i + 1]);
    }
    // The old code's insert, as a replica of the previous version sends it.
    for (let i = 0; i < votes; i++) await c.query("INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES ($1, 'm/a', 'm/b', 'a', NULL)", [i]);
    return { db, c, version: v };
  }

  const waitFor = async (c: pg.Client, waiting: number) => {
    for (let i = 0; i < 500; i++) {
      const r = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'relation'");
      if (r.rows[0]!.n >= waiting) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`never saw ${waiting} waiting lock(s)`);
  };

  it('two new replicas starting at once move the votes once; an old replica voting mid-move lands after them', async () => {
    const { db, c, version } = await oldDatabase(5);
    const reader = new pg.Client({ connectionString: db.url });
    const old = new pg.Client({ connectionString: db.url });
    await reader.connect();
    await old.connect();
    const pools = [0, 1].map(() => new pg.Pool({ connectionString: db.url, types: TYPES }));
    try {
      // An old replica's leaderboard read in progress holds the move at its DROP TABLE…
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM arena_votes');
      const moves = pools.map((p) => migrate(p, db.url));
      await waitFor(c, 1);
      // …while another old replica casts a vote: it waits behind the move's lock on the table.
      const vote = old.query("INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES (99, 'm/old', 'm/b', 'b', 'key_old')");
      await waitFor(c, 2);
      await reader.query('COMMIT');
      // One replica applied the move, the other found it done.
      // (It applies every migration from the move on, the move and those after it.)
      expect((await Promise.all(moves)).sort()).toEqual([0, MIGRATIONS.length - version]);
      // The waiting insert resolved `arena_votes` again, to the view, and went through it.
      await vote;
      const rows = (await c.query('SELECT seq::int4 AS seq, ts::int4 AS ts, model_a, key_id FROM eval_judgements ORDER BY seq')).rows;
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(rows.at(-1)).toEqual({ seq: 6, ts: 99, model_a: 'm/old', key_id: 'key_old' });
      // The old replica's read through the view sees every vote, in the order cast.
      expect((await old.query('SELECT model_a FROM arena_votes ORDER BY id')).rows.map((r) => r.model_a)).toEqual(['m/a', 'm/a', 'm/a', 'm/a', 'm/a', 'm/old']);
    } finally {
      await reader.end();
      await old.end();
      await c.end();
      for (const p of pools) await p.end();
    }
  }, 60_000);

  it('a move that fails half-way leaves arena_votes as it was, and the next start moves it', async () => {
    const { db, c, version } = await oldDatabase(3);
    const pool = new pg.Pool({ connectionString: db.url, types: TYPES });
    try {
      // Something in the way of the migration's last index (an operator's own object of that name).
      await c.query('CREATE TABLE in_the_way (x int); CREATE INDEX eval_judgements_model_b ON in_the_way (x)');
      await expect(migrate(pool, db.url)).rejects.toThrow(/eval_judgements_model_b/);
      expect((await c.query("SELECT relkind FROM pg_class WHERE relname IN ('arena_votes', 'eval_judgements') ORDER BY relname")).rows).toEqual([{ relkind: 'r' }]);
      expect((await c.query('SELECT count(*)::int AS n FROM arena_votes')).rows[0]).toEqual({ n: 3 });
      expect((await c.query('SELECT max(version) AS v FROM baimo_schema_migrations')).rows[0]).toEqual({ v: version });
      await c.query('DROP TABLE in_the_way');
      expect(await migrate(pool, db.url)).toBe(MIGRATIONS.length - version);
      expect((await c.query('SELECT count(*)::int AS n FROM eval_judgements')).rows[0]).toEqual({ n: 3 });
    } finally {
      await c.end();
      await pool.end();
    }
  }, 60_000);
});

/**
 * The primary's relay with workers that are objects here: each has its own registry with one
 * counter and one gauge, answers the relay's questions as a worker's IPC handler does (or stays
 * silent), and a scrape adds the scraped one's own metrics to what the relay sends back, as
 * usage/metrics.ts does.
 */
describe('/metrics across workers: counters never go down between scrapes', () => {
  class FakeWorker {
    readonly registry = new Registry();
    readonly requests = new Counter({ name: 'baimo_requests_total', help: 'h', registers: [this.registry] });
    readonly inFlight = new Gauge({ name: 'baimo_deployment_in_flight', help: 'h', registers: [this.registry] });
    silent = false;
    connected = true;
    relay!: MetricsRelay;
    private answer?: (m: { metrics: MetricsJSON[]; missing: number }) => void;
    isConnected() {
      return this.connected;
    }
    send(m: { baimo: string; id: number; metrics?: MetricsJSON[]; missing?: number }, done?: () => void) {
      done?.();
      if (m.baimo === 'metrics-collect' && !this.silent) {
        void this.registry.getMetricsAsJSON().then((metrics) => this.relay.handle(this as unknown as Worker, JSON.parse(JSON.stringify({ baimo: 'metrics-collected', id: m.id, metrics }))));
      }
      if (m.baimo === 'metrics-scraped') this.answer?.(m as { metrics: MetricsJSON[]; missing: number });
      return true;
    }
    /** One scrape reaching this worker: the total of baimo_requests_total, and the missing count. */
    async scrape(): Promise<{ total: number; missing: number; inFlight: number }> {
      const own = await this.registry.getMetricsAsJSON();
      const answered = new Promise<{ metrics: MetricsJSON[]; missing: number }>((resolve) => (this.answer = resolve));
      this.relay.handle(this as unknown as Worker, { baimo: 'metrics-scrape', id: 1 });
      const { metrics, missing } = await answered;
      const all = await AggregatorRegistry.aggregate([own, ...metrics]).getMetricsAsJSON();
      const sum = (name: string) => all.find((m) => m.name === name)?.values.reduce((n, v) => n + v.value, 0) ?? 0;
      return { total: sum('baimo_requests_total'), missing, inFlight: sum('baimo_deployment_in_flight') };
    }
  }

  it('a worker slow to answer, then one replaced, never makes the summed counters dip (Prometheus would read a reset)', async () => {
    const live: FakeWorker[] = [new FakeWorker(), new FakeWorker(), new FakeWorker()];
    const relay = new MetricsRelay(3, () => live.filter((w) => w.connected) as unknown as Worker[]);
    for (const w of live) w.relay = relay;
    const [a, b, c] = live as [FakeWorker, FakeWorker, FakeWorker];
    a.requests.inc(10);
    b.requests.inc(100);
    c.requests.inc(1000);
    b.inFlight.set(4);
    const seen: number[] = [];
    const first = await a.scrape();
    expect(first).toEqual({ total: 1110, missing: 0, inFlight: 4 });
    seen.push(first.total);

    // B is busy past the relay's wait: its last answer stands in, and the scrape says it was late.
    b.silent = true;
    a.requests.inc(1);
    const slow = await c.scrape();
    expect(slow).toMatchObject({ missing: 1, inFlight: 4 });
    seen.push(slow.total);

    // B dies (its 100 requests happened) and a new worker takes its slot with nothing counted yet.
    b.connected = false;
    relay.gone(b as unknown as Worker);
    const d = new FakeWorker();
    d.relay = relay;
    live[1] = d;
    c.requests.inc(1);
    const replaced = await a.scrape();
    // What B counted stays; what it had in flight does not.
    expect(replaced).toMatchObject({ missing: 0, inFlight: 0 });
    seen.push(replaced.total);
    d.requests.inc(5);
    seen.push((await d.scrape()).total);
    seen.push((await c.scrape()).total);
    // Two more exits, one after the other (their counts kept and summed into one part).
    for (const i of [1, 2]) {
      const gone = live[i]!;
      gone.requests.inc(1);
      await c.scrape();
      gone.connected = false;
      relay.gone(gone as unknown as Worker);
      const next = new FakeWorker();
      next.relay = relay;
      live[i] = next;
    }
    await new Promise((resolve) => setImmediate(resolve));
    seen.push((await a.scrape()).total);

    // Every scrape's total at least the one before: no false reset for rate() and increase().
    expect(seen).toEqual([1110, 1111, 1112, 1117, 1117, 1119]);
  });
});

describe('/metrics across workers: a flood of scrapes', () => {
  // Finding: each scrape read its own registry and summed every worker's metrics again, however
  // many were being answered at once; on a big registry (2,000 models: 8 MB of metrics per
  // worker, over a second to sum) a burst of scrapes, which need no key where metricsAuth is
  // none, held the worker's event loop for as many seconds as there were scrapes.
  it('scrapes that arrive while one is being put together share its answer', async () => {
    const { registry } = assembleFrom({}, []);
    let asked = 0;
    const waiting: (() => void)[] = [];
    const release = () => waiting.splice(0).forEach((go) => go());
    const group: MetricsGroup = {
      member: '1',
      serve: () => {},
      others: async () => {
        asked++;
        await new Promise<void>((resolve) => waiting.push(resolve));
        return { metrics: [], missing: 1 };
      },
    };
    const metrics = new Metrics(registry, group);
    let reads = 0;
    const read = metrics.registry.getMetricsAsJSON.bind(metrics.registry);
    metrics.registry.getMetricsAsJSON = () => (reads++, read());
    const burst = Array.from({ length: 50 }, () => metrics.text());
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const texts = await Promise.all(burst);
    expect(new Set(texts).size).toBe(1);
    expect(texts[0]).toMatch(/^baimo_metrics_workers_missing 1$/m);
    expect({ asked, reads }).toEqual({ asked: 1, reads: 1 });
    // A scrape after those is put together afresh.
    const later = metrics.text();
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await later;
    expect({ asked, reads }).toEqual({ asked: 2, reads: 2 });
  });
});
