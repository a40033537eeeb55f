/**
 * `npm run bench:shared`: a replica on the shared store (PostgreSQL + Redis, this machine's
 * servers) against the same hub on its embedded SQLite store, in one run (issue 18: ≥ 85 % of the
 * embedded hub's throughput at c=32). Both hubs are started the way users do (bench/hub.ts),
 * against one loopback upstream, each with two keys: one with no limits, and one with an rpm
 * limit and a budget, so every request on it is checked and reserved in the limit store (Redis
 * for the replica, memory for the embedded hub). wrk at c=32 alternates between the two hubs,
 * for each key, BENCH_ROUNDS rounds of BENCH_SECONDS; the headline is the median of each round's
 * ratio (its two runs back to back), with the ratio of the medians beside it. Afterwards it checks that every request served
 * landed in PostgreSQL (records drained from the replica's journal off the request path) and
 * reports the ingest rate that implies. Writes bench/results/shared.md.
 *
 * For the replica's runs it also reads Redis's INFO commandstats before and after, and reports per
 * request the script calls (round trips that do work), the commands those scripts ran, and the
 * time Redis spent in them: figures that do not depend on the machine's load, but that count
 * whatever else uses the same Redis meanwhile (point BENCH_REDIS at a Redis of its own for exact ones).
 *
 * Env: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_PG (postgres://postgres@127.0.0.1:5432),
 * BENCH_REDIS (redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startHub } from './hub.js';
import type { StartedHub } from './hub.js';
import { cpuSeconds, killAll, runBench, spawnWithPort, stop, waitForIdle } from './procs.js';
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
type Hub = 'embedded' | 'shared';
type Kind = 'plain' | 'limited';
const HUBS: readonly Hub[] = ['embedded', 'shared'];
const KINDS: readonly Kind[] = ['plain', 'limited'];
const KIND_LABEL: Record<Kind, string> = { plain: 'no limits', limited: 'rpm + budget' };

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** CPU seconds used so far by each of this machine's PostgreSQL and Redis server processes (the replica's stores), by pid. */
function storeCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm === 'postgres' || comm.startsWith('redis-server')) out.set(Number(pid), cpuSeconds(Number(pid)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What the store processes used between two readings (a process that ended meanwhile is not counted; one that began is, whole). */
function storeCpuSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, s] of storeCpu()) total += s - (before.get(pid) ?? 0);
  return total;
}

/** Redis's work so far: script calls (EVAL/EVALSHA), other commands (those scripts run count here), and the µs spent in scripts. */
interface RedisWork {
  readonly scripts: number;
  readonly commands: number;
  readonly scriptUs: number;
}

async function redisWork(r: Redis): Promise<RedisWork> {
  let scripts = 0;
  let commands = 0;
  let scriptUs = 0;
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const [name, calls, usec] = [m[1]!, Number(m[2]), Number(m[3])];
    if (name === 'evalsha' || name === 'eval') {
      scripts += calls;
      scriptUs += usec;
    } else if (name !== 'info') commands += calls;
  }
  return { scripts, commands, scriptUs };
}

async function main(): Promise<void> {
  requireWrk();
  const busyBefore = await waitForIdle(log);
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
    const hubs: Record<Hub, StartedHub> = {
      embedded: await startHub(upstream.port, { configExtra }),
      shared: await startHub(upstream.port, { configExtra, env: { BAIMO_DATABASE_URL: dbUrl, BAIMO_REDIS_URL: REDIS } }),
    };
    // Two keys on each hub: the plain one startHub made, and one with an rpm limit and a budget.
    const limitedKey = async (h: StartedHub) => {
      const res = await fetch(`${h.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'limited', ...keyFields }) });
      const k = (await res.json()) as { key?: string };
      if (res.status !== 201 || !k.key) throw new Error(`creating the limited key failed: ${res.status}`);
      return k.key;
    };
    const keys: Record<Hub, Record<Kind, string>> = {
      embedded: { plain: hubs.embedded.key, limited: await limitedKey(hubs.embedded) },
      shared: { plain: hubs.shared.key, limited: await limitedKey(hubs.shared) },
    };
    const scratch = join(hubs.embedded.dir, 'wrk');
    mkdirSync(scratch);
    const messages = [{ role: 'user', content: 'Say hello.' }];
    const script = (h: Hub, k: Kind) => luaScript(scratch, `${h}-${k}`, { model: 'bench/bench-model', messages }, keys[h][k]);
    for (const h of HUBS) {
      for (const k of KINDS) {
        await Promise.all(Array.from({ length: 64 }, async () => {
          const res = await fetch(`${hubs[h].url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[h][k]}` }, body: JSON.stringify({ model: 'bench/bench-model', messages }) });
          if (res.status !== 200) throw new Error(`${h} ${k} sanity request failed: ${res.status} ${await res.text()}`);
        }));
      }
    }
    const run = (h: Hub, k: Kind, seconds: number) =>
      runWrk({ url: `${hubs[h].url}/v1/chat/completions`, script: script(h, k), connections: 32, seconds, relayPid: hubs[h].pid, upstreamPid: upstream.child.pid! });
    // Warm both (JIT, pools, Redis scripts) before measuring.
    for (const h of HUBS) for (const k of KINDS) await run(h, k, 3);
    const runs: Record<Kind, Record<Hub, WrkResult[]>> = { plain: { embedded: [], shared: [] }, limited: { embedded: [], shared: [] } };
    const storeUs: Record<Kind, Record<Hub, number[]>> = { plain: { embedded: [], shared: [] }, limited: { embedded: [], shared: [] } };
    const redisStats = new Redis(REDIS, { lazyConnect: true });
    await redisStats.connect();
    const perReq: Record<Kind, RedisWork[]> = { plain: [], limited: [] };
    let servedShared = 0;
    const t0 = Date.now();
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of KINDS) {
        const order = r % 2 === 0 ? HUBS : [...HUBS].reverse();
        for (const h of order) {
          const before = storeCpu();
          const workBefore = h === 'shared' ? await redisWork(redisStats) : undefined;
          const w = await run(h, k, SECONDS);
          storeUs[k][h].push((1e6 * storeCpuSince(before)) / Math.max(1, w.requests));
          let redisLine = '';
          if (workBefore) {
            const after = await redisWork(redisStats);
            const n = Math.max(1, w.requests);
            const one = { scripts: (after.scripts - workBefore.scripts) / n, commands: (after.commands - workBefore.commands) / n, scriptUs: (after.scriptUs - workBefore.scriptUs) / n };
            perReq[k].push(one);
            redisLine = `, Redis per request: ${one.scripts.toFixed(2)} script calls, ${one.commands.toFixed(1)} commands, ${one.scriptUs.toFixed(1)} µs in scripts`;
          }
          if (w.errors) log(`warning: ${h} ${k} run ${r + 1} had errors: non-2xx ${w.non2xx}, socket ${JSON.stringify(w.socketErrors)}`);
          runs[k][h].push(w);
          if (h === 'shared') servedShared += w.requests;
          log(`round ${r + 1} ${k} ${h}: ${w.rps.toFixed(0)} req/s, p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, hub CPU ${w.relayCpuUsPerReq?.toFixed(0)} µs/req, PostgreSQL + Redis CPU ${storeUs[k][h].at(-1)!.toFixed(0)} µs/req${redisLine}`);
        }
      }
    }
    // Every request the replica served must land in PostgreSQL (warm-up and sanity ones included).
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    pgVersion = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const count = async () => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM usage WHERE final = 1')).rows[0]!.n);
    const drainStart = Date.now();
    let stored = await count();
    const expected = servedShared; // a lower bound: the warm-up and sanity requests come on top
    while (stored < expected && Date.now() - drainStart < 30_000) {
      await sleep(200);
      stored = await count();
    }
    const drainMs = Date.now() - drainStart;
    await c.end();
    redisStats.disconnect();
    const elapsed = (Date.now() - t0) / 1000;
    await Promise.all([stop(hubs.embedded.child), stop(hubs.shared.child), stop(upstream.child)]);

    const med = (k: Kind, h: Hub, f: (w: WrkResult) => number) => median(runs[k][h].map(f));
    const ratio = (k: Kind) => med(k, 'shared', (w) => w.rps) / med(k, 'embedded', (w) => w.rps);
    // Each round's pair ran back to back (in alternating order): their ratio is what the machine's
    // drift over minutes (a shared host's speed changes by half) disturbs least.
    const pairs = (k: Kind) => runs[k].shared.map((w, r) => w.rps / runs[k].embedded[r]!.rps);
    const cpuRatio = (k: Kind) => med(k, 'shared', (w) => w.relayCpuUsPerReq ?? 0) / med(k, 'embedded', (w) => w.relayCpuUsPerReq ?? 0);
    const rows = KINDS.flatMap((k) =>
      HUBS.map(
        (h) =>
          `| ${KIND_LABEL[k]} | ${h === 'embedded' ? 'embedded (SQLite, limits in memory)' : 'replica (PostgreSQL + Redis)'} | ${med(k, h, (w) => w.rps).toFixed(0)} | ${med(k, h, (w) => w.p50Ms).toFixed(2)} | ${med(k, h, (w) => w.p99Ms).toFixed(2)} | ${med(k, h, (w) => w.relayCpuUsPerReq ?? 0).toFixed(0)} | ${median(storeUs[k][h]).toFixed(0)} | ${runs[k][h].map((w) => w.rps.toFixed(0)).join(', ')} |`,
      ),
    );
    const md = [
      '# A replica on PostgreSQL + Redis against the embedded hub (issue 18)',
      '',
      `${new Date().toISOString()} — ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), PostgreSQL ${pgVersion} and Redis on this machine; wrk, the loopback upstream and both hubs share the CPUs.`,
      `Generated by \`npm run bench:shared\` (BENCH_ROUNDS=${ROUNDS}, BENCH_SECONDS=${SECONDS}): non-streaming chat completions at c=32, the two hubs alternating each round, medians over rounds.`,
      'Both hubs: key auth, usage recorded, logs on; two keys each: one with no limits (the replica then never asks Redis), one with an rpm limit and a daily budget (every request rate-checked and its worst case reserved, then settled: Redis on the replica, memory on the embedded hub).',
      '',
      '| key | hub | req/s | p50 ms | p99 ms | hub CPU µs/req | PostgreSQL + Redis CPU µs/req | req/s per round |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      ...KINDS.map((k) => {
        const m = (f: (w: RedisWork) => number) => median(perReq[k].map(f));
        return `- ${KIND_LABEL[k]}, the replica's Redis work per request (median of rounds; INFO commandstats): ${m((w) => w.scripts).toFixed(2)} script calls, ${m((w) => w.commands).toFixed(1)} commands, ${m((w) => w.scriptUs).toFixed(1)} µs in scripts.`;
      }),
      ...KINDS.map(
        (k) =>
          `- ${KIND_LABEL[k]}: **replica / embedded throughput ${(100 * median(pairs(k))).toFixed(1)} %**, the median of the rounds' ratios (${pairs(k).map((x) => (100 * x).toFixed(0)).join(', ')} %; the ratio of the medians above: ${(100 * ratio(k)).toFixed(1)} %) (target ≥ 85 %: ${median(pairs(k)) >= 0.85 ? 'met' : '**not met**'}); the replica's own CPU per request ${cpuRatio(k).toFixed(2)}× the embedded hub's.`,
      ),
      '',
      `Records: ${stored.toLocaleString('en')} final usage records in PostgreSQL for at least ${expected.toLocaleString('en')} requests the replica answered; ${stored >= expected ? 'all landed' : '**some missing**'} ${(drainMs / 1000).toFixed(1)} s after the load stopped. ` +
        `Ingest while serving: ${(servedShared / (ROUNDS * KINDS.length * SECONDS)).toFixed(0)} records/s (the replica's own rate: it never waited on PostgreSQL; the journal drained in batches beside it). The ingest ceiling of one writer is in usage-pg.md.`,
      `Wall time ${elapsed.toFixed(0)} s.${busyBefore > 10 ? ` The machine was ${busyBefore.toFixed(0)} % busy with other work before the run: figures are noisier than usual.` : ''}`,
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

runBench(main);
