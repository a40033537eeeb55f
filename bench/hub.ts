/**
 * Starts the hub the way users do (`node dist/cli/main.js serve`, the command `npm start`
 * runs, with the Node flags it gives, after rebuilding dist; or from source with tsx if the build fails), as its own
 * process on a random port with a temp data dir and a baimo.yaml pointing provider `bench`
 * at the loopback upstream. Key auth, usage accounting and logging are all on: it sets an
 * admin key, creates a virtual key for the load, and writes the hub's log lines to a file.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './stats.js';
import { spawnTracked } from './procs.js';

export interface StartedHub {
  child: ChildProcess;
  pid: number;
  url: string;
  /** The virtual key used for all load. */
  key: string;
  /** The hub's admin key (to make more keys). */
  adminKey: string;
  dir: string;
  logFile: string;
  command: string;
}

const ROOT = new URL('..', import.meta.url).pathname;

// Temp dirs (config, data, log) go when the benchmark exits, whatever the reason.
const dirs = new Set<string>();
process.on('exit', () => {
  if (process.env.BENCH_KEEP === '1') return;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let command: string[] | undefined;

/** Rebuilds dist (once) and returns the command line that starts the hub (dist preferred). */
function hubCommand(): string[] {
  command ??= buildCommand();
  return command;
}

function buildCommand(): string[] {
  if (process.env.BENCH_HUB !== 'src') {
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      process.stderr.write(`bench: building dist failed, running the hub from source instead\n${(err as { stdout?: Buffer }).stdout?.toString() ?? ''}\n`);
    }
    const main = join(ROOT, 'dist/cli/main.js');
    const src = join(ROOT, 'src/cli/main.ts');
    if (existsSync(main) && statSync(main).mtimeMs >= statSync(src).mtimeMs) return [...startFlags(), main];
  }
  return [...startFlags(), '--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
}

/**
 * The Node flags `npm start` gives the hub (`node --flag … dist/cli/main.js serve` in package.json),
 * so the benchmark runs it with the same heap settings users get.
 */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const m = /\bnode((?:\s+--\S+)*)\s+dist\/cli\/main\.js\b/.exec(pkg.scripts?.start ?? '');
  return m?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}

export interface HubOptions {
  /** Extra Node flags before the script (experiments: --max-semi-space-size, --heapsnapshot-signal…). */
  nodeArgs?: string[];
  /** Extra environment for the hub. */
  env?: Record<string, string>;
  /** Limits of the virtual key the load uses (admin API fields: rpm, budget_usd…); default none. */
  keyFields?: Record<string, unknown>;
  /** Appended to the generated baimo.yaml (e.g. a pricing section). */
  configExtra?: string;
}

export async function startHub(upstreamPort: number, opts: HubOptions = {}): Promise<StartedHub> {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-bench-'));
  dirs.add(dir);
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, `providers:\n  bench:\n    baseURL: http://127.0.0.1:${upstreamPort}/v1\n    apiKey: sk-bench-upstream\n    models: [bench-model]\n${opts.configExtra ?? ''}`);
  const adminKey = `bk-admin-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  // A clean environment: no provider keys from the caller's shell, no OTLP exporter.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/(_API_KEY|^BAIMO_|^OTEL_)/.test(k)) env[k] = v;
  Object.assign(env, { BAIMO_ADMIN_KEY: adminKey, BAIMO_LOG_LEVEL: 'info' }, opts.env);
  const args = [...(opts.nodeArgs ?? []), ...hubCommand(), 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--config', config];
  const logFile = join(dir, 'hub.log');
  const errFile = join(dir, 'hub.err');
  const out = openSync(logFile, 'w');
  const err = openSync(errFile, 'w');
  const child = spawnTracked(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', out, err] });
  closeSync(out);
  closeSync(err);
  child.once('exit', () => {
    // What the hub said before it died (its temp dir goes with the benchmark).
    if (!(child as { stopRequested?: boolean }).stopRequested) process.stderr.write(readFileSync(errFile, 'utf8').slice(-4000));
  });
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!url) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`hub did not start (${child.exitCode !== null ? `exit ${child.exitCode}` : 'timeout'}):\n${readFileSync(errFile, 'utf8')}${readFileSync(logFile, 'utf8')}`);
    }
    await sleep(100);
    url = /listening on (http:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
  }
  const res = await fetch(`${url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', ...opts.keyFields }),
  });
  const created = (await res.json()) as { key?: string };
  if (res.status !== 201 || !created.key) throw new Error(`creating a virtual key failed: ${res.status} ${JSON.stringify(created)}`);
  return { child, pid: child.pid!, url, key: created.key, adminKey, dir, logFile, command: `node ${args.map((a) => a.replace(ROOT, '')).join(' ')}` };
}

/** Log lines the hub has written so far (proof that logging was on). */
export function logLines(hub: StartedHub): number {
  return readFileSync(hub.logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).length;
}
