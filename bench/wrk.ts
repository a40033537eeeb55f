/**
 * Drives non-streaming load with wrk (a real load generator, not Node, so the client does not
 * compete with the relay for the same event loop) and parses its report: requests/sec,
 * latency percentiles (--latency), non-2xx responses and socket errors. Around each run it
 * reads the relay's and the upstream's CPU time and RSS from /proc, giving CPU per request.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyPct, CLK_TCK, cpuSeconds, machineTicks, rssMB } from './procs.js';

export const WRK = '/usr/bin/wrk';

export function requireWrk(): void {
  if (!existsSync(WRK)) {
    process.stderr.write('wrk is not installed: apt-get install wrk\n');
    process.exit(1);
  }
}

export interface WrkResult {
  connections: number;
  threads: number;
  seconds: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** True when any request failed: non-2xx, socket errors, or nothing completed. */
  errors: boolean;
  /** CPU µs per completed request of the relaying process (proxy or hub); null for direct. */
  relayCpuUsPerReq: number | null;
  relayRssMB: number | null;
  upstreamCpuUsPerReq: number;
  /** Share of the whole machine's CPU busy during the run (all processes, ours and others'). */
  machineBusyPct: number;
  /** The part of machineBusyPct not used by wrk, the relay or the upstream: someone else's work. */
  otherBusyPct: number;
  raw: string;
}

/** Writes a wrk Lua script that POSTs `body` with a bearer key; returns its path. */
export function luaScript(dir: string, name: string, body: object, key: string): string {
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, [
    'wrk.method = "POST"',
    `wrk.body = [==[${JSON.stringify(body)}]==]`,
    'wrk.headers["Content-Type"] = "application/json"',
    `wrk.headers["Authorization"] = "Bearer ${key}"`,
    '',
  ].join('\n'));
  return path;
}

const UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const ms = (text: string, pct: string) => {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  return m ? Number(m[1]) * UNIT[m[2]!]! : NaN;
};

export function parseWrk(raw: string): Omit<WrkResult, 'connections' | 'threads' | 'seconds' | 'relayCpuUsPerReq' | 'relayRssMB' | 'upstreamCpuUsPerReq' | 'machineBusyPct' | 'otherBusyPct'> {
  const requests = Number(/(\d+) requests in/.exec(raw)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const socketErrors = { connect: Number(se?.[1] ?? 0), read: Number(se?.[2] ?? 0), write: Number(se?.[3] ?? 0), timeout: Number(se?.[4] ?? 0) };
  const errors = requests === 0 || non2xx > 0 || Object.values(socketErrors).some((n) => n > 0);
  return { requests, rps, p50Ms: ms(raw, '50'), p75Ms: ms(raw, '75'), p90Ms: ms(raw, '90'), p99Ms: ms(raw, '99'), non2xx, socketErrors, errors, raw };
}

export interface WrkRun {
  url: string;
  script: string;
  connections: number;
  seconds: number;
  relayPid?: number | undefined;
  upstreamPid: number;
}

/** Runs wrk once and measures the relay's CPU per request and RSS over exactly that run. */
export async function runWrk(o: WrkRun): Promise<WrkResult> {
  const threads = o.connections === 1 ? 1 : 2;
  const relay0 = o.relayPid ? cpuSeconds(o.relayPid) : 0;
  const up0 = cpuSeconds(o.upstreamPid);
  const m0 = machineTicks();
  // Through bash, whose `times` then reports wrk's own CPU time (children's user and system).
  const args = ['-t', String(threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '--latency', '-s', o.script, o.url];
  const raw = await new Promise<string>((resolve, reject) => {
    execFile('bash', ['-c', `"$0" "$@" && times`, WRK, ...args],
      { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk failed: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  const m1 = machineTicks();
  const t = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(raw);
  const wrkCpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : 0;
  const relayCpu = o.relayPid ? cpuSeconds(o.relayPid) - relay0 : 0;
  const upCpu = cpuSeconds(o.upstreamPid) - up0;
  const machineBusy = busyPct(m0, m1);
  const oursPct = (100 * (wrkCpu + relayCpu + upCpu) * CLK_TCK) / Math.max(1, m1.total - m0.total);
  const parsed = parseWrk(raw);
  const n = Math.max(1, parsed.requests);
  return {
    connections: o.connections,
    threads,
    seconds: o.seconds,
    ...parsed,
    relayCpuUsPerReq: o.relayPid ? (relayCpu * 1e6) / n : null,
    relayRssMB: o.relayPid ? rssMB(o.relayPid) : null,
    upstreamCpuUsPerReq: (upCpu * 1e6) / n,
    machineBusyPct: machineBusy,
    otherBusyPct: Math.max(0, machineBusy - oursPct),
  };
}
