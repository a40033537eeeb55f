/**
 * `baimo serve --workers N`: N processes of the hub on one machine sharing one port, so a
 * many-core server is used fully (one Node process keeps about one core busy). Built on
 * node:cluster: the primary forks the workers and does no hub work itself; in cluster's default
 * round-robin mode (Linux, macOS) it accepts each connection and hands it to the next worker,
 * which then serves every request on that connection.
 *
 * Each worker is a full replica on the shared store (PostgreSQL, with Redis where configured):
 * that is what keeps rate limits, budgets and keys exact across processes, as across machines.
 * The embedded SQLite store belongs to one process, so N > 1 requires the shared one. Each
 * worker keeps its usage journal in its own data directory, DATA_DIR/worker-<i> (the directory
 * is locked per process): a worker restarted in slot i takes the same directory and replays
 * what its predecessor journaled but had not stored yet.
 *
 * A scrape of /metrics, whichever worker it reaches, answers for all of them: the primary relays
 * the others' metrics to the scraped worker (server/worker-metrics.ts).
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadConfigFile } from '../config/load.js';
import { resolveSettings } from '../config/settings.js';
import type { SettingFlags } from '../config/settings.js';
import { createLogger } from './log.js';
import { startHub } from './start.js';
import type { RunningHub } from './start.js';
import { MetricsRelay, workerMetricsGroup } from './worker-metrics.js';

/** A mistake in how --workers was asked for: the command exits 2, as for other usage errors. */
export class WorkersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkersError';
  }
}

export interface ServeFlags extends SettingFlags {
  readonly config?: string | undefined;
}

/**
 * How many processes: `--workers` (or BAIMO_WORKERS), a positive whole number; 1 when unset.
 * More than the machine's CPUs is allowed (a container may be given more CPU time than its
 * visible CPU count suggests, or fewer): the caller warns, see `serveWorkers`.
 */
export function workerCount(value: string | undefined, source: string): number {
  if (value === undefined || value === '') return 1;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new WorkersError(`${source} expects a positive whole number of processes, not '${value}'`);
  }
  return n;
}

// What the primary tells each worker it forks. Private to this module: nothing else reads them.
const INDEX_ENV = 'BAIMO_WORKER_INDEX';
const BASE_DIR_ENV = 'BAIMO_WORKER_DATA_DIR';
const COUNT_ENV = 'BAIMO_WORKER_COUNT';

/** Whether this process is a worker forked by `serveWorkers` (it then runs `serveWorker`). */
export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[INDEX_ENV] !== undefined;
}

/** The message a worker sends its primary when it listens, with its start-up banner (the others are /metrics': worker-metrics.ts). */
interface Ready {
  readonly baimo: 'ready';
  readonly banner: string;
}

const isReady = (m: unknown): m is Ready => typeof m === 'object' && m !== null && (m as Ready).baimo === 'ready' && typeof (m as Ready).banner === 'string';

/** A worker's data directory: its journal and its lock. */
const workerDir = (base: string, index: number | '<i>') => join(base, `worker-${index}`);

/**
 * The worker's side: start the hub (the same `startHub` a single process runs) in this worker's
 * own data directory, tell the primary it is ready, and on SIGTERM/SIGINT finish in-flight
 * requests and save usage records before exiting 0. The primary prints what the workers would
 * print (the banner, the shutdown notice) once for all of them.
 */
export async function serveWorker(flags: ServeFlags, banner: (hub: RunningHub) => string): Promise<void> {
  const index = Number(process.env[INDEX_ENV]);
  const base = process.env[BASE_DIR_ENV] ?? '.';
  const count = Number(process.env[COUNT_ENV] ?? 1);
  let hub: RunningHub | undefined;
  let stopping = false;
  const close = (h: RunningHub) =>
    h.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`worker ${index}: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  // Listened for before the hub starts: a stop asked for during start-up waits for it, then closes it.
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (hub) void close(hub);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  hub = await startHub({ ...flags, dataDir: workerDir(base, index), metricsGroup: workerMetricsGroup(index, count) });
  if (stopping) return void close(hub);
  // The banner names the pattern of the workers' directories, not this one's.
  const shown = { ...hub, settings: { ...hub.settings, dataDir: workerDir(base, '<i>') } };
  const ready: Ready = { baimo: 'ready', banner: banner(shown) };
  process.send?.(ready);
}

/** A worker that stayed up this long has recovered: the next restart waits the shortest time again. */
const STABLE_MS = 60_000;
const FIRST_RESTART_MS = 1_000;
const MAX_RESTART_MS = 30_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  startedAt: number;
  ready: boolean;
  /** Restarts since the slot's worker last stayed up STABLE_MS: the backoff's exponent. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/**
 * The primary's side: checks the settings once, forks worker 1 and, when it is ready, the others
 * (so the first start's migrations, admin key and any store error happen once, printed once);
 * prints the banner when all listen; replaces a worker that dies unexpectedly after a backoff
 * (1 s, doubling up to 30 s while replacements keep dying within a minute); forwards
 * SIGTERM/SIGINT and exits when every worker has finished its graceful close: 0 when all
 * closed cleanly, 1 otherwise. A worker that fails during the first start stops the rest and
 * exits 1: that is a configuration or store problem for the operator, not one to retry.
 *
 * Throws WorkersError before forking anything when there is no shared store.
 */
export async function serveWorkers(count: number, flags: ServeFlags, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const env = process.env;
  // Config errors are reported here, once, rather than by every worker.
  const { config } = loadConfigFile(flags.config ?? env.BAIMO_CONFIG, env);
  const settings = resolveSettings(flags, env, config);
  if (settings.databaseUrl === undefined) {
    throw new WorkersError(
      `--workers ${count} requires the shared store: set BAIMO_DATABASE_URL (or store.url in baimo.yaml) — the embedded SQLite store can be used by one process only`,
    );
  }
  const cpus = availableParallelism();
  if (count > cpus) process.stderr.write(`warning: ${count} workers on ${cpus} CPUs: they will compete for them (each keeps about one CPU busy under load)\n`);
  // Written synchronously: the primary's few lines must not be lost when it exits right after.
  const log = createLogger(env.BAIMO_LOG_LEVEL ?? 'info', pino.destination({ fd: 1, sync: true }));
  const base = resolve(settings.dataDir);

  const slots: Slot[] = Array.from({ length: count }, (_, k) => ({ index: k + 1, worker: undefined, startedAt: 0, ready: false, failures: 0, restart: undefined }));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let exitCode = 0;
  let banner = '';
  const relay = new MetricsRelay(count, () => slots.flatMap((s) => (s.ready && s.worker ? [s.worker] : [])));

  const finishIfDone = () => {
    if (phase === 'stopping' && slots.every((s) => s.worker === undefined)) process.exit(exitCode);
  };

  const stopAll = () => {
    phase = 'stopping';
    for (const s of slots) {
      clearTimeout(s.restart);
      s.worker?.process.kill('SIGTERM');
    }
    finishIfDone();
  };

  const fork = (slot: Slot) => {
    slot.restart = undefined;
    // The worker runs this same command line (cluster's default exec, args and Node flags).
    const worker = cluster.fork({ [INDEX_ENV]: String(slot.index), [BASE_DIR_ENV]: base, [COUNT_ENV]: String(count) });
    Object.assign(slot, { worker, startedAt: Date.now(), ready: false });
    worker.on('message', (m: unknown) => {
      if (relay.handle(worker, m)) return;
      if (isReady(m) && slot.worker === worker) onReady(slot, m);
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      relay.gone(worker);
      if (slot.worker === worker) onExit(slot, worker, code, signal);
    });
  };

  const onReady = (slot: Slot, m: Ready) => {
    slot.ready = true;
    if (phase === 'stopping') return;
    if (phase === 'running') {
      log.info({ msg: 'worker replaced', worker: slot.index, pid: slot.worker?.process.pid });
      return;
    }
    if (slot.index === 1) {
      banner = m.banner;
      for (const s of slots.slice(1)) fork(s);
    }
    if (slots.every((s) => s.ready)) {
      phase = 'running';
      const pids = slots.map((s) => s.worker?.process.pid).join(', ');
      const [first = '', ...rest] = banner.split('\n');
      const line = `  workers: ${count} processes sharing the port (pids ${pids}); one that dies is replaced`;
      out.write([first, line, ...rest].join('\n'));
    }
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    slot.worker = undefined;
    slot.ready = false;
    const pid = worker.process.pid;
    if (phase === 'stopping') {
      // A worker stopped by the signal before it installed its handler had nothing to save.
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') exitCode = 1;
      return finishIfDone();
    }
    if (phase === 'starting') {
      process.stderr.write(`error: worker ${slot.index} (pid ${pid}) stopped while starting (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping the others\n`);
      exitCode = 1;
      return stopAll();
    }
    if (Date.now() - slot.startedAt >= STABLE_MS) slot.failures = 0;
    const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** slot.failures);
    slot.failures++;
    log.warn({ msg: 'worker stopped unexpectedly; starting a new one', worker: slot.index, pid, exit_code: code, signal, restart_in_ms: delay });
    slot.restart = setTimeout(() => fork(slot), delay);
  };

  const onSignal = (signal: string) => {
    if (phase === 'stopping') return;
    out.write(`${signal}: finishing in-flight requests and saving usage records…\n`);
    stopAll();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  fork(slots[0]!);
}
