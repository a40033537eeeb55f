/**
 * Memory of the hub under load. (a) Peak RSS through sustained c=32 load (VmHWM, the kernel's
 * own high-water mark, on a fresh hub per mode); (b) opens 1,000 slow
 * streams at once (60 chunks × 500 ms, so all stay open) and samples the hub's RSS while
 * every one of them has started; (c) sends 50,000 non-streaming requests with wrk as warm-up,
 * then 100,000 more, reading RSS every 10,000 — a leak shows up as a rising floor.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { rssMB } from './procs.js';
import { sleep } from './stats.js';
import { runWrk } from './wrk.js';

export interface OpenStreamsResult {
  requested: number;
  /** Streams that had received their first chunk when RSS was sampled. */
  open: number;
  failed: number;
  rssBeforeMB: number;
  /** Highest RSS sampled while the streams were open. */
  rssOpenMB: number;
  firstError?: string;
}

export async function openStreams(hubUrl: string, key: string, hubPid: number, n = 1000): Promise<OpenStreamsResult> {
  const agent = new Agent({ connections: n + 10, keepAliveTimeout: 5_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one signal aborts all n requests
  const body = JSON.stringify({ model: 'bench/s60x500', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Count slowly.' }] });
  const rssBeforeMB = rssMB(hubPid);
  let open = 0;
  let failed = 0;
  let firstError: string | undefined;
  const all: Promise<void>[] = [];
  const one = async () => {
    try {
      const res = await request(`${hubUrl}/v1/chat/completions`, {
        method: 'POST', body, signal: abort.signal, dispatcher: agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      });
      if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${(await res.body.text()).slice(0, 200)}`);
      let first = true;
      for await (const _ of res.body) if (first) { first = false; open++; }
    } catch (err) {
      if (!abort.signal.aborted) { failed++; firstError ??= (err as Error).message; }
    }
  };
  // In batches, so the listen backlog is never the thing being measured.
  for (let i = 0; i < n; i += 100) {
    for (let j = i; j < Math.min(n, i + 100); j++) all.push(one());
    await sleep(50);
  }
  const deadline = Date.now() + 20_000;
  while (open + failed < n && Date.now() < deadline) await sleep(100);
  let rssOpenMB = 0;
  for (let i = 0; i < 5; i++) { rssOpenMB = Math.max(rssOpenMB, rssMB(hubPid)); await sleep(200); }
  const result: OpenStreamsResult = { requested: n, open, failed, rssBeforeMB, rssOpenMB, ...(firstError && { firstError }) };
  abort.abort();
  await Promise.allSettled(all);
  await agent.destroy().catch(() => {});
  return result;
}

export interface GrowthResult {
  requestsAt1: number;
  rssAt1MB: number;
  requestsAt2: number;
  rssAt2MB: number;
  growthMB: number;
  /** RSS at every mark on the way, to tell a trend from noise. */
  marks: { requests: number; rssMB: number }[];
  errors: boolean;
}

/**
 * wrk at c=32 in slices: 50k requests of warm-up (the JIT, the heap and SQLite's caches settle
 * there), then 100k more, with RSS at every 10k from 50k to 150k. RSS
 * saw-tooths with the garbage collector by tens of MB, so growth compares the lowest of the last
 * three marks with the lowest of the first three: a leak lifts the floor, a collection that
 * has not yet run does not.
 */
export async function growth(url: string, script: string, hubPid: number, upstreamPid: number, marks = Array.from({ length: 11 }, (_, i) => 50_000 + i * 10_000)): Promise<GrowthResult> {
  let done = 0;
  let errors = false;
  const rss: { requests: number; rssMB: number }[] = [];
  let rps = 0;
  for (const mark of marks) {
    while (done < mark) {
      // Slices sized from the last rate, so RSS is read close to each mark.
      const seconds = rps ? Math.max(1, Math.min(5, Math.ceil((mark - done) / rps))) : 2;
      const r = await runWrk({ url, script, connections: 32, seconds, relayPid: hubPid, upstreamPid });
      done += r.requests;
      rps = r.rps;
      errors ||= r.errors;
    }
    await sleep(1000);
    rss.push({ requests: done, rssMB: rssMB(hubPid) });
  }
  const floor = (ms: typeof rss) => ms.reduce((lo, m) => (m.rssMB < lo.rssMB ? m : lo));
  const [a, b] = [floor(rss.slice(0, 3)), floor(rss.slice(-3))];
  return { requestsAt1: a.requests, rssAt1MB: a.rssMB, requestsAt2: b.requests, rssAt2MB: b.rssMB, growthMB: b.rssMB - a.rssMB, marks: rss, errors };
}

/** VmHWM (the kernel's peak RSS so far) and VmRSS of a process, in MB. */
export function vmMB(pid: number): { hwmMB: number; rssMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)\\s+kB`).exec(s)?.[1] ?? NaN) / 1024;
  return { hwmMB: kb('VmHWM'), rssMB: kb('VmRSS') };
}

export interface SustainedResult {
  mode: 'whole' | 'stream';
  seconds: number;
  requests: number;
  rps: number;
  errors: boolean;
  rssBeforeMB: number;
  /** VmHWM at the end of the load: the highest RSS the process ever had (load included). */
  peakMB: number;
  /** RSS read once a second through the load. */
  rssMB: number[];
}

/**
 * The request body of each mode: a small non-streaming completion, or a stream of 20 chunks sent
 * back to back (`s20x0`: no gap, so the load is requests, not waiting).
 */
export function sustainedBody(mode: SustainedResult['mode']): object {
  const messages = [{ role: 'user', content: 'Say hello.' }];
  return mode === 'stream'
    ? { model: 'bench/s20x0', stream: true, stream_options: { include_usage: true }, messages }
    : { model: 'bench/bench-model', messages };
}

/**
 * Sustained load at c=32 for `seconds` (one wrk run), reading VmHWM and VmRSS from /proc every
 * second. VmHWM is the kernel's own peak, so a spike between two reads still counts.
 */
export async function sustained(mode: SustainedResult['mode'], url: string, script: string, hubPid: number, upstreamPid: number, seconds: number): Promise<SustainedResult> {
  const rssBeforeMB = vmMB(hubPid).rssMB;
  const rss: number[] = [];
  const timer = setInterval(() => rss.push(Math.round(vmMB(hubPid).rssMB * 10) / 10), 1000);
  try {
    const r = await runWrk({ url, script, connections: 32, seconds, relayPid: hubPid, upstreamPid });
    return { mode, seconds, requests: r.requests, rps: r.rps, errors: r.errors, rssBeforeMB, peakMB: vmMB(hubPid).hwmMB, rssMB: rss };
  } finally {
    clearInterval(timer);
  }
}
