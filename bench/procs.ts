/**
 * Child processes of the benchmark and what the kernel says about them. Every child runs in
 * its own process group and is killed (group and all) when the benchmark exits for any
 * reason, so a failed run never leaves an upstream, proxy or hub behind. CPU time and RSS
 * come from /proc, read before and after each load run, so they count only the measured
 * process (the relay), not the load generator or the upstream beside it.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

const children = new Set<ChildProcess>();
let stopping = false;

/** Kills every tracked child's process group now (synchronous: safe in an 'exit' handler). */
export function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  stopping = true;
  for (const c of children) {
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) continue;
    try {
      process.kill(-c.pid, signal);
    } catch {
      try { c.kill(signal); } catch { /* already gone */ }
    }
  }
}

process.on('exit', () => killAll());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping children\n`);
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  killAll();
  process.exit(1);
});

/** Spawns a tracked child in its own process group; says so on stderr if it dies before we stop it. */
export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: true });
  children.add(child);
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (!stopping && !(child as { stopRequested?: boolean }).stopRequested) {
      const name = args.find((a) => /\.(ts|js)$/.test(a)) ?? cmd;
      // Every figure after this would be wrong: stop the run rather than report it.
      process.stderr.write(`bench: ${name} (pid ${child.pid}) exited unexpectedly: ${signal ? `killed by ${signal}${signal === 'SIGTERM' || signal === 'SIGKILL' ? ' from outside the benchmark' : ''}` : `exit code ${code}`}; the run is invalid\n`);
      setImmediate(() => { killAll(); process.exit(1); });
    }
  });
  return child;
}

/**
 * Spawns a Node script that prints its port as the first stdout line; resolves once it does.
 * Rejects if it exits or stays silent for `timeoutMs`.
 */
export function spawnWithPort(args: readonly string[], timeoutMs = 30_000): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  child.once('exit', () => { if (err && !stopping) process.stderr.write(err); });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: no port after ${timeoutMs} ms\n${err}`)), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited (${code})\n${err}`)); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]) }); }
    });
  });
}

/** Kernel clock ticks per second (the unit of utime/stime in /proc/<pid>/stat). */
export const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch { return 100; }
})();

/** User + system CPU time of a process so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of a process, in MB (from VmRSS in /proc/<pid>/status). */
export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Stops a child gracefully (SIGTERM to its group), then kills it after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  (child as { stopRequested?: boolean }).stopRequested = true;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Machine-wide CPU time so far, in clock ticks: busy (time charged to processes: user, nice,
 * system — not interrupts, which loopback networking causes and no process is charged for)
 * and total.
 */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0), total };
}

/** Share of the machine's CPU busy between two machineTicks() readings, in percent. */
export function busyPct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : NaN;
}

/**
 * Waits (up to BENCH_IDLE_WAIT seconds, default 60) for other work on the machine to stop, as the
 * figures assume the load generator, the hubs, the upstream (and their stores) are all that run.
 * Answers how busy the machine still was, in percent.
 */
export async function waitForIdle(log: (s: string) => void): Promise<number> {
  let busy = NaN;
  for (const until = Date.now() + Number(process.env.BENCH_IDLE_WAIT ?? 60) * 1000; ;) {
    const t0 = machineTicks();
    await new Promise((r) => setTimeout(r, 2000));
    busy = busyPct(t0, machineTicks());
    if (busy <= 10 || Date.now() >= until) return busy;
    log(`the machine is ${busy.toFixed(0)}% busy with other work; waiting for it to go idle…`);
  }
}

/** Runs a benchmark's main: exit 0 when it is done, 1 with its stack when it fails; no child left either way. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => {
      killAll();
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
