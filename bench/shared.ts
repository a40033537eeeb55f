/**
 * `npm run bench:shared`: a replica on the shared store (PostgreSQL + Redis, this machine's
 * servers) against the same hub on its embedded SQLite store, in one run (issue 18: ≥ 85 % of the
 * embedded hub's throughput at c=32). Both hubs are started the way users do (bench/hub.ts),
 * against one loopback upstream, with the same virtual key carrying an rpm limit and a budget,
 * so every request is checked and reserved in the limit store (Redis for the replica, memory for
 * the embedded hub) and recorded. wrk at c=32 alternates between the two, BENCH_ROUNDS rounds
 * of BENCH_SECONDS; the medians are compared. Afterwards it checks that every request served
 * landed in PostgreSQL (records drained from the replica's journal off the request path) and
 * reports the ingest rate that implies. Writes bench/results/shared.md.
 *
 * Env: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_PG (postgres://postgres@127.0.0.1:5432),
 * BENCH_REDIS (redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startHub } from './hub.js';
import type { StartedHub } from './hub.js';
import { killAll, spawnWithPort, stop } from './procs.js';
import { median, sleep } from './stats.js';
import { luaScript, requireWrk, runWrk } from './wrk.js';
import type { WrkResult } from './wrk.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const PG_SERVER = env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS = env.BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const BENCH = new URL('.', import.meta.url).pathname;
const log = (s: string) => process.stderr.write(`${s}\n`);

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  requireWrk();
  const dbName = `baimo_bench_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE ${dbName}`);
  const dbUrl = `${PG_SERVER}/${dbName}`;
  let pgVersion = '';
  try {
    log('starting upstream and two hubs (embedded, shared)…');
    const upstream = await spawnWithPort(['--import', 'tsx', join(BENCH, 'upstream.ts'), '--chunks', '20', '--gap', '10']);
    // A price, so the budget is a real reservation per request; limits far above what the run reaches.
    const configExtra = 'pricing:\n  models:\n    bench/bench-model: { input: 0.1, output: 0.1 }\n';
    const keyFields = { rpm: 10_000_000, budget_usd: 1_000_000, budget_period: 'day' };
    const hubs: Record<'embedded' | 'shared', StartedHub> = {
      embedded: await startHub(upstream.port, { keyFields, configExtra }),
      shared: await startHub(upstream.port, { keyFields, configExtra, env: { BAIMO_DATABASE_URL: dbUrl, BAIMO_REDIS_URL: REDIS } }),
    };
    const scratch = join(hubs.embedded.dir, 'wrk');
    mkdirSync(scratch);
    const messages = [{ role: 'user', content: 'Say hello.' }];
    const scripts = {
      embedded: luaScript(scratch, 'embedded', { model: 'bench/bench-model', messages }, hubs.embedded.key),
      shared: luaScript(scratch, 'shared', { model: 'bench/bench-model', messages }, hubs.shared.key),
    };
    for (const [name, h] of Object.entries(hubs)) {
      for (let i = 0; i < 3; i++) {
        await Promise.all(Array.from({ length: 64 }, async () => {
          const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'bench/bench-model', messages }) });
          if (res.status !== 200) throw new Error(`${name} concurrent sanity request failed: ${res.status} ${await res.text()}`);
        }));
        const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'bench/bench-model', messages }) });
        if (res.status !== 200) throw new Error(`${name} sanity request ${i + 1} failed: ${res.status} ${await res.text()}`);
      }
    }
    // Warm both (JIT, pools, Redis scripts) before measuring.
    for (const n of ['embedded', 'shared'] as const) await runWrk({ url: `${hubs[n].url}/v1/chat/completions`, script: scripts[n], connections: 32, seconds: 3, relayPid: hubs[n].pid, upstreamPid: upstream.child.pid! });
    const runs: Record<'embedded' | 'shared', WrkResult[]> = { embedded: [], shared: [] };
    let servedShared = 0;
    const t0 = Date.now();
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['embedded', 'shared'] as const) : (['shared', 'embedded'] as const);
      for (const n of order) {
        const w = await runWrk({ url: `${hubs[n].url}/v1/chat/completions`, script: scripts[n], connections: 32, seconds: SECONDS, relayPid: hubs[n].pid, upstreamPid: upstream.child.pid! });
        if (w.errors) log(`warning: ${n} run ${r + 1} had errors: non-2xx ${w.non2xx}, socket ${JSON.stringify(w.socketErrors)}`);
        runs[n].push(w);
        if (n === 'shared') servedShared += w.requests;
        log(`round ${r + 1} ${n}: ${w.rps.toFixed(0)} req/s, p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, hub CPU ${w.relayCpuUsPerReq?.toFixed(0)} µs/req`);
      }
    }
    // Every request the replica served must land in PostgreSQL (warm-up and sanity ones included).
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    pgVersion = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const count = async () => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM usage WHERE final = 1')).rows[0]!.n);
    const drainStart = Date.now();
    let stored = await count();
    const expected = servedShared + runs.shared.length; // lower bound: measured runs (+ the warm-up and sanity ones)
    while (stored < expected && Date.now() - drainStart < 30_000) {
      await sleep(200);
      stored = await count();
    }
    const drainMs = Date.now() - drainStart;
    await c.end();
    const elapsed = (Date.now() - t0) / 1000;
    await Promise.all([stop(hubs.embedded.child), stop(hubs.shared.child), stop(upstream.child)]);

    const med = (n: 'embedded' | 'shared', f: (w: WrkResult) => number) => median(runs[n].map(f));
    const rps = { embedded: med('embedded', (w) => w.rps), shared: med('shared', (w) => w.rps) };
    const ratio = rps.shared / rps.embedded;
    const rows = (['embedded', 'shared'] as const).map(
      (n) =>
        `| ${n === 'embedded' ? 'embedded (SQLite, limits in memory)' : 'replica (PostgreSQL + Redis)'} | ${rps[n].toFixed(0)} | ${med(n, (w) => w.p50Ms).toFixed(2)} | ${med(n, (w) => w.p99Ms).toFixed(2)} | ${med(n, (w) => w.relayCpuUsPerReq ?? 0).toFixed(0)} | ${runs[n].map((w) => w.rps.toFixed(0)).join(', ')} |`,
    );
    const md = [
      '# A replica on PostgreSQL + Redis against the embedded hub (issue 18)',
      '',
      `${new Date().toISOString()} — ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), PostgreSQL ${pgVersion} and Redis on this machine; wrk, the loopback upstream and both hubs share the CPUs.`,
      `Generated by \`npm run bench:shared\` (BENCH_ROUNDS=${ROUNDS}, BENCH_SECONDS=${SECONDS}): non-streaming chat completions at c=32, the two hubs alternating each round, medians over rounds.`,
      'Both hubs: key auth, a key with an rpm limit and a daily budget (so every request is rate-checked and its worst case reserved and settled), usage recorded, logs on.',
      '',
      '| hub | req/s | p50 ms | p99 ms | hub CPU µs/req | req/s per round |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      `**Replica / embedded throughput: ${(100 * ratio).toFixed(1)} %** (target ≥ 85 %: ${ratio >= 0.85 ? 'met' : '**not met**'}).`,
      '',
      `Records: ${stored.toLocaleString('en')} final usage records in PostgreSQL for at least ${expected.toLocaleString('en')} requests the replica answered; ${stored >= expected ? 'all landed' : '**some missing**'} ${(drainMs / 1000).toFixed(1)} s after the load stopped. ` +
        `Ingest while serving: ${(servedShared / (ROUNDS * SECONDS)).toFixed(0)} records/s (the replica's own rate: it never waited on PostgreSQL; the journal drained in batches beside it). The ingest ceiling of one writer is in usage-pg.md.`,
      `Wall time ${elapsed.toFixed(0)} s.`,
      '',
    ].join('\n');
    mkdirSync(join(BENCH, 'results'), { recursive: true });
    writeFileSync(join(BENCH, 'results', 'shared.md'), md);
    process.stdout.write(md);
  } finally {
    killAll();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    killAll();
    process.exit(1);
  },
);
