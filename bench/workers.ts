/**
 * `npm run bench:workers`: what `baimo serve --workers 2` gives over one process (issue 18). Two
 * hubs on the shared store (a fresh PostgreSQL database on 127.0.0.1:5432, Redis on
 * 127.0.0.1:6379), one started with BAIMO_WORKERS=1 and one with BAIMO_WORKERS=2 (the same as
 * --workers), both the way users start them (bench/hub.ts: dist build, key auth, usage
 * accounting and logging on) in front of the loopback upstream (bench/upstream.ts). wrk drives
 * non-streaming chat completions at c=32: after a 3 s warm-up of each hub, four 10 s runs in the
 * order 1, 2, 2, 1 workers, so a drift of the machine's speed over the run weighs on both alike.
 * Reports requests/s of each, their ratio, and the hubs' CPU per request (all their processes);
 * writes bench/results/workers.md.
 *
 * Env: BENCH_SECONDS (10) per measured run, BENCH_WARMUP (3) seconds per hub,
 * BENCH_IDLE_WAIT (60) seconds to wait for a busy machine to go idle first,
 * BAIMO_TEST_REDIS and BAIMO_TEST_PG as the tests use them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../test/helpers/pg.js';
import { startHub } from './hub.js';
import type { StartedHub } from './hub.js';
import { cpuSeconds, killAll, machineTicks, runBench, spawnWithPort, stop, waitForIdle } from './procs.js';
import { sleep } from './stats.js';
import { luaScript, requireWrk, runWrk } from './wrk.js';
import type { WrkResult } from './wrk.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const WARMUP = Number(env.BENCH_WARMUP ?? 3);
const REDIS = env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = 32;
const ORDER = [1, 2, 2, 1] as const;
const BENCH = new URL('.', import.meta.url).pathname;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Measured extends WrkResult {
  workers: number;
  /** CPU µs per request of all the hub's processes (primary and workers). */
  hubCpuUsPerReq: number;
  /** Of that, the cluster primary's (it accepts connections and hands them to workers). */
  primaryCpuUsPerReq: number;
}

/** The hub's process ids: the one started, then its workers as its banner names them. */
function hubPids(hub: StartedHub): number[] {
  const m = /workers: \d+ processes sharing the port \(pids ([\d, ]+)\)/.exec(readFileSync(hub.logFile, 'utf8'));
  return [hub.pid, ...(m ? m[1]!.split(', ').map(Number) : [])];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f0 = (x: number) => x.toFixed(0);

async function main(): Promise<void> {
  requireWrk();
  const busyBefore = await waitForIdle(log);
  const db = await createTestDatabase();
  try {
    log(`database ${db.name}; starting the upstream and the hubs (1 and 2 workers)…`);
    const upstream = await spawnWithPort(['--import', 'tsx', join(BENCH, 'upstream.ts')]);
    const storeEnv = { BAIMO_DATABASE_URL: db.url, BAIMO_REDIS_URL: REDIS };
    // One after the other: the first applies the migrations.
    const hubs = new Map<number, StartedHub>();
    for (const w of [1, 2]) hubs.set(w, await startHub(upstream.port, { env: { ...storeEnv, BAIMO_WORKERS: String(w) } }));
    const pids = new Map([...hubs].map(([w, h]) => [w, hubPids(h)]));
    if (pids.get(2)!.length !== 3) throw new Error(`the 2-worker hub did not report two workers: ${readFileSync(hubs.get(2)!.logFile, 'utf8').slice(0, 2000)}`);
    const messages = [{ role: 'user', content: 'Say hello.' }];
    const scripts = new Map([...hubs].map(([w, h]) => [w, luaScript(h.dir, `workers-${w}`, { model: 'bench/bench-model', messages }, h.key)]));
    for (const [w, h] of hubs) {
      const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'bench/bench-model', messages }) });
      const text = await res.text();
      if (res.status !== 200 || !text.includes('"choices"')) throw new Error(`hub with ${w} worker(s): sanity request failed: ${res.status} ${text.slice(0, 300)}`);
    }

    const measure = async (w: number, seconds: number): Promise<Measured> => {
      const h = hubs.get(w)!;
      const ps = pids.get(w)!;
      const cpu0 = ps.map(cpuSeconds);
      const r = await runWrk({ url: `${h.url}/v1/chat/completions`, script: scripts.get(w)!, connections: CONNECTIONS, seconds, upstreamPid: upstream.child.pid! });
      const used = ps.map((p, i) => cpuSeconds(p) - cpu0[i]!);
      const n = Math.max(1, r.requests);
      // runWrk counts only wrk and the upstream as ours: the hub's processes are not "others".
      const hubBusyPct = (100 * used.reduce((a, b) => a + b, 0)) / (seconds * cpus().length);
      return { ...r, otherBusyPct: Math.max(0, r.otherBusyPct - hubBusyPct), workers: w, hubCpuUsPerReq: (used.reduce((a, b) => a + b, 0) * 1e6) / n, primaryCpuUsPerReq: w > 1 ? (used[0]! * 1e6) / n : 0 };
    };
    log('warming up…');
    for (const w of [1, 2]) await measure(w, WARMUP);
    const runs: Measured[] = [];
    for (const w of ORDER) {
      const r = await measure(w, SECONDS);
      runs.push(r);
      log(`${w} worker(s): ${f0(r.rps).padStart(6)} rps  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  hub CPU ${f0(r.hubCpuUsPerReq)} µs/req` +
        `  others ${f0(r.otherBusyPct)}%${r.errors ? '  ⚠ ERRORS' : ''}`);
      await sleep(500);
    }
    const hubCommand = hubs.get(2)!.command.replaceAll(hubs.get(2)!.dir, '<tmp>');
    for (const h of hubs.values()) await stop(h.child, 15_000);
    await stop(upstream.child);

    const of = (w: number) => runs.filter((r) => r.workers === w);
    const rps1 = mean(of(1).map((r) => r.rps));
    const rps2 = mean(of(2).map((r) => r.rps));
    const cpuModel = cpus()[0]?.model.trim() ?? '?';
    const warnings: string[] = [];
    if (busyBefore > 10) warnings.push(`the machine was ${f0(busyBefore)}% busy with other work before the benchmark started`);
    for (const r of runs) {
      if (r.otherBusyPct > 10) warnings.push(`a ${r.workers}-worker run: other processes (not wrk, the upstream or the hub; PostgreSQL and Redis count here) used ${f0(r.otherBusyPct)}% of the machine`);
      if (r.errors) warnings.push(`a ${r.workers}-worker run had errors: ${r.non2xx} non-2xx, socket errors ${JSON.stringify(r.socketErrors)}`);
    }
    const md = [
      '# `baimo serve --workers 2` against one process',
      '',
      `Measured ${new Date().toISOString()} by \`npm run bench:workers\` on ${cpus().length} CPUs (${cpuModel}), Node ${process.version}.`,
      `Hub: \`${hubCommand}\` with BAIMO_WORKERS=1 and =2, on PostgreSQL 127.0.0.1:5432 (a fresh database) and Redis 127.0.0.1:6379;`,
      'key auth, usage accounting (journal, then PostgreSQL) and access logging on. Non-streaming chat completions from the',
      `loopback upstream (bench/upstream.ts); wrk, ${CONNECTIONS} connections, 2 threads, ${WARMUP} s warm-up per hub, then ${SECONDS} s runs in the order ${ORDER.join(', ')} workers.`,
      '',
      '| run | workers | requests/s | p50 ms | p99 ms | hub CPU µs/req (all processes) | of which the primary | other load on the machine |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...runs.map((r, i) => `| ${i + 1} | ${r.workers} | ${f0(r.rps)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${f0(r.hubCpuUsPerReq)} | ${r.workers > 1 ? f0(r.primaryCpuUsPerReq) : '—'} | ${f0(r.otherBusyPct)}% |`),
      '',
      `**Two workers: ${f0(rps2)} requests/s against ${f0(rps1)} for one (means of two runs each): ${(rps2 / rps1).toFixed(2)}×.**`,
      '',
      `This machine has ${cpus().length} CPUs, and they are shared by everything in the measurement: wrk (2 threads), the upstream,`,
      'the hub\'s processes, PostgreSQL and Redis. One hub process already keeps about one CPU busy at c=32, so a second',
      'worker can only use what the load generator, the upstream and the stores leave over: the ratio here is a floor,',
      'not what a many-core server (where the workers each get a core of their own) gets from `--workers N`.',
      '"Other load" is the machine\'s busy share not used by wrk, the upstream or the hub (PostgreSQL and Redis writes',
      'are in it, and so is anyone else\'s work on the machine).',
      ...(warnings.length ? ['', 'Warnings:', '', ...warnings.map((w) => `- ${w}`)] : []),
      '',
    ].join('\n');
    const out = join(BENCH, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'workers.md'), md);
    process.stdout.write(md);
  } finally {
    killAll();
    await db.drop();
  }
}

runBench(main);
