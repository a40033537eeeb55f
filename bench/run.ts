/**
 * `npm run bench`: the reproducible load benchmark of issue 10. Starts a loopback upstream,
 * the calibration proxy and the hub (key auth, usage accounting and logging on), each in its
 * own process; drives wrk at concurrency 1, 32 and 256 against direct / proxy / hub in a
 * rotated order each round (median over rounds cancels drift on a noisy shared machine);
 * measures stream fidelity and memory; writes bench/results/latest.{json,md}.
 *
 * Env: BENCH_SECONDS (10) per wrk run, BENCH_ROUNDS (3), BENCH_STREAMS (200), BENCH_PEAK_SECONDS (30) of
 * sustained c=32 load per mode for the peak-RSS measurement (0 skips it),
 * BENCH_MEMORY=1 to add the memory-growth run (50,000 requests of warm-up, then 100,000), BENCH_HUB=src to skip the dist
 * build, BENCH_KEEP=1 to keep the hub's temp dir (config, data, log), BENCH_IDLE_WAIT (60)
 * seconds to wait for a busy machine to go idle before starting.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { logLines, startHub } from './hub.js';
import { growth, openStreams, sustained, sustainedBody } from './memory.js';
import type { SustainedResult } from './memory.js';
import { busyPct, CLK_TCK, cpuSeconds, killAll, machineTicks, runBench, spawnWithPort, stop, waitForIdle } from './procs.js';
import { markdown, targets, LABEL } from './report.js';
import type { Report, StreamSummary, Summary, TargetName } from './report.js';
import { median, percentile, sleep } from './stats.js';
import { oneStream, streamTarget } from './streams.js';
import type { StreamSample } from './streams.js';
import { luaScript, requireWrk, runWrk } from './wrk.js';
import type { WrkResult } from './wrk.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const STREAMS = Number(env.BENCH_STREAMS ?? 200);
const MEMORY = env.BENCH_MEMORY === '1';
const PEAK_SECONDS = Number(env.BENCH_PEAK_SECONDS ?? 30);
const CONCURRENCY = [1, 32, 256];
const NAMES: TargetName[] = ['direct', 'proxy', 'hub'];
const STREAM_NAMES: TargetName[] = ['proxy', 'hub'];
const BENCH = new URL('.', import.meta.url).pathname;
const log = (s: string) => process.stderr.write(`${s}\n`);
const rotate = <T>(a: readonly T[], k: number) => a.map((_, i) => a[(i + k) % a.length]!);

async function main(): Promise<void> {
  requireWrk();
  // The targets assume the load generator, hub and upstream are the only things running.
  // Waits (up to BENCH_IDLE_WAIT seconds, default 60) for other work on the machine to stop.
  const busyBefore = await waitForIdle(log);
  const warnings: string[] = [];
  if (busyBefore > 10) warnings.push(`the machine was ${busyBefore.toFixed(0)}% busy before the benchmark started (other processes): figures are noisier than usual`);
  log('starting upstream, calibration proxy and hub…');
  const upstream = await spawnWithPort(['--import', 'tsx', join(BENCH, 'upstream.ts'), '--chunks', '20', '--gap', '10']);
  const proxy = await spawnWithPort(['--import', 'tsx', join(BENCH, 'proxy.ts'), '--upstream', String(upstream.port)]);
  const hub = await startHub(upstream.port);
  const scratch = join(hub.dir, 'wrk');
  mkdirSync(scratch);
  const messages = [{ role: 'user', content: 'Say hello.' }];
  const base = (port: number) => `http://127.0.0.1:${port}`;
  const tgt = {
    direct: { url: base(upstream.port), key: 'sk-bench', model: 'bench-model', pid: undefined },
    proxy: { url: base(proxy.port), key: 'sk-bench', model: 'bench-model', pid: proxy.child.pid },
    hub: { url: hub.url, key: hub.key, model: 'bench/bench-model', pid: hub.pid },
  } satisfies Record<TargetName, { url: string; key: string; model: string; pid: number | undefined }>;
  const scripts = Object.fromEntries(NAMES.map((n) => [n, luaScript(scratch, n, { model: tgt[n].model, messages }, tgt[n].key)])) as Record<TargetName, string>;
  // Streaming load: 20 chunks sent back to back (model s20x0), usage included, as SDKs ask for it.
  const streamModel = (n: TargetName) => (n === 'hub' ? 'bench/s20x0' : 's20x0');
  const streamScripts = Object.fromEntries(STREAM_NAMES.map((n) => [n, luaScript(scratch, `${n}-stream`, { model: streamModel(n), stream: true, stream_options: { include_usage: true }, messages }, tgt[n].key)])) as Record<TargetName, string>;

  // Every path must answer before anything is measured.
  for (const n of NAMES) {
    const res = await fetch(`${tgt[n].url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tgt[n].key}` }, body: JSON.stringify({ model: tgt[n].model, messages }) });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"choices"')) throw new Error(`${LABEL[n]} sanity request failed: ${res.status} ${text.slice(0, 300)}`);
  }
  log(`hub: ${hub.command} at ${hub.url} (pid ${hub.pid})`);

  const wrk = (n: TargetName, c: number, seconds: number, stream = false) =>
    runWrk({ url: `${tgt[n].url}/v1/chat/completions`, script: (stream ? streamScripts : scripts)[n], connections: c, seconds, relayPid: tgt[n].pid, upstreamPid: upstream.child.pid! });
  log('warming up…');
  for (const n of NAMES) await wrk(n, 32, 2);

  const runs: (WrkResult & { round: number; target: TargetName })[] = [];
  const streamRuns: (WrkResult & { round: number; target: TargetName })[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = rotate(NAMES, round);
    for (const c of CONCURRENCY) {
      for (const n of order) {
        const r = await wrk(n, c, SECONDS);
        runs.push({ ...r, round: round + 1, target: n });
        log(`round ${round + 1} c=${String(c).padEnd(3)} ${LABEL[n].padEnd(17)} ${r.rps.toFixed(0).padStart(6)} rps  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms` +
          `${r.relayCpuUsPerReq !== null ? `  cpu ${r.relayCpuUsPerReq.toFixed(0)} µs/req  rss ${r.relayRssMB?.toFixed(1)} MB` : ''}${r.otherBusyPct > 10 ? `  (others ${r.otherBusyPct.toFixed(0)}%)` : ''}${r.errors ? '  ⚠ ERRORS' : ''}`);
        if (r.otherBusyPct > 10) warnings.push(`round ${round + 1}, ${LABEL[n]} at c=${c}: other processes used ${r.otherBusyPct.toFixed(0)}% of the machine during the run`);
        if (r.errors) warnings.push(`round ${round + 1}, ${LABEL[n]} at c=${c}: ${r.requests} requests, ${r.non2xx} non-2xx, socket errors ${JSON.stringify(r.socketErrors)}`);
        await sleep(300);
      }
    }
    // Streaming at c=32, the proxy and the hub side by side (issue 17: CPU per request in both modes).
    for (const n of rotate(STREAM_NAMES, round)) {
      const r = await wrk(n, 32, SECONDS, true);
      streamRuns.push({ ...r, round: round + 1, target: n });
      log(`round ${round + 1} c=32 streaming ${LABEL[n].padEnd(17)} ${r.rps.toFixed(0).padStart(6)} rps  p50 ${r.p50Ms.toFixed(3)} ms` +
        `${r.relayCpuUsPerReq !== null ? `  cpu ${r.relayCpuUsPerReq.toFixed(0)} µs/req` : ''}${r.errors ? '  ⚠ ERRORS' : ''}`);
      if (r.errors) warnings.push(`round ${round + 1}, streaming ${LABEL[n]} at c=32: ${r.requests} requests, ${r.non2xx} non-2xx, socket errors ${JSON.stringify(r.socketErrors)}`);
      await sleep(300);
    }
  }
  const summary = {} as Record<TargetName, Record<number, Summary>>;
  for (const n of NAMES) {
    summary[n] = {};
    for (const c of CONCURRENCY) {
      const rs = runs.filter((r) => r.target === n && r.connections === c);
      const cpu = rs.map((r) => r.relayCpuUsPerReq ?? NaN);
      const rss = rs.map((r) => r.relayRssMB ?? NaN);
      summary[n][c] = {
        rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)),
        cpuUsPerReq: tgt[n].pid ? median(cpu) : null, rssMB: tgt[n].pid ? median(rss) : null, errors: rs.some((r) => r.errors),
      };
    }
  }

  // The machine's speed drifts by tens of percent within minutes, so each round's hub and proxy
  // (run next to each other) are compared with each other, and the median of those ratios is
  // reported along with every round's.
  const inRound = (round: number, n: TargetName, c: number) => runs.find((r) => r.round === round && r.target === n && r.connections === c);
  const paired = { throughput: [] as number[], cpu: [] as number[], addedC1Ms: [] as number[], streamThroughput: [] as number[], streamCpu: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    const hub32 = inRound(round, 'hub', 32);
    const proxy32 = inRound(round, 'proxy', 32);
    if (hub32 && proxy32) paired.throughput.push(hub32.rps / proxy32.rps);
    if (hub32?.relayCpuUsPerReq && proxy32?.relayCpuUsPerReq) paired.cpu.push(hub32.relayCpuUsPerReq / proxy32.relayCpuUsPerReq);
    const hub1 = inRound(round, 'hub', 1);
    const direct1 = inRound(round, 'direct', 1);
    if (hub1 && direct1) paired.addedC1Ms.push(hub1.p50Ms - direct1.p50Ms);
    const hubS = streamRuns.find((r) => r.round === round && r.target === 'hub');
    const proxyS = streamRuns.find((r) => r.round === round && r.target === 'proxy');
    if (hubS && proxyS) paired.streamThroughput.push(hubS.rps / proxyS.rps);
    if (hubS?.relayCpuUsPerReq && proxyS?.relayCpuUsPerReq) paired.streamCpu.push(hubS.relayCpuUsPerReq / proxyS.relayCpuUsPerReq);
  }

  log(`streams: ${STREAMS} per path at c=1 (20 chunks, 10 ms apart)…`);
  const st = Object.fromEntries(NAMES.map((n) => [n, streamTarget(tgt[n].url, tgt[n].key, tgt[n].model)])) as Record<TargetName, ReturnType<typeof streamTarget>>;
  for (const n of NAMES) for (let i = 0; i < 10; i++) await oneStream(st[n], 20, 10);
  const samples: Record<TargetName, StreamSample[]> = { direct: [], proxy: [], hub: [] };
  for (let i = 0; i < STREAMS; i++) for (const n of rotate(NAMES, i)) samples[n].push(await oneStream(st[n], 20, 10));
  const streams = {} as Record<TargetName, StreamSummary>;
  for (const n of NAMES) {
    const ok = samples[n].filter((s) => s.ok);
    const failed = samples[n].length - ok.length;
    if (failed) warnings.push(`streams via ${LABEL[n]}: ${failed} of ${samples[n].length} failed (${samples[n].find((s) => !s.ok)?.error ?? ''})`);
    const p = (k: 'ttftMs' | 'maxDevNominalMs' | 'maxDevSentMs', q: number) => percentile(ok.map((s) => s[k]), q);
    streams[n] = { n: samples[n].length, failed, ttftP50Ms: p('ttftMs', 50), ttftP99Ms: p('ttftMs', 99), devNominalP50Ms: p('maxDevNominalMs', 50),
      devNominalP99Ms: p('maxDevNominalMs', 99), devSentP50Ms: p('maxDevSentMs', 50), devSentP99Ms: p('maxDevSentMs', 99),
      devSentAllGapsP99Ms: percentile(ok.flatMap((s) => s.devSentMs), 99) };
    log(`  ${LABEL[n].padEnd(17)} TTFT p50 ${streams[n].ttftP50Ms.toFixed(3)} ms  gap dev vs sent p50 ${streams[n].devSentP50Ms.toFixed(3)} / p99 ${streams[n].devSentP99Ms.toFixed(3)} ms`);
    await st[n].agent.close();
  }

  // Memory is measured on a fresh hub (same command and config), so the figures do not
  // depend on how much heap the load phases above happened to leave behind.
  const hubLogLines = logLines(hub);
  if (hubLogLines === 0) warnings.push('the hub wrote no log lines: logging was not on');
  await stop(hub.child);
  if (env.BENCH_KEEP !== '1') rmSync(hub.dir, { recursive: true, force: true });

  // Peak RSS through sustained load: a fresh hub per mode, since VmHWM is the process's peak
  // over its whole life.
  const peaks: SustainedResult[] = [];
  for (const mode of PEAK_SECONDS > 0 ? (['whole', 'stream'] as const) : []) {
    const h = await startHub(upstream.port);
    log(`memory: peak RSS through ${PEAK_SECONDS} s of c=32 load (${mode === 'stream' ? 'streaming' : 'non-streaming'}) on a fresh hub…`);
    const script = luaScript(h.dir, `peak-${mode}`, sustainedBody(mode), h.key);
    const r = await sustained(mode, `${h.url}/v1/chat/completions`, script, h.pid, upstream.child.pid!, PEAK_SECONDS);
    peaks.push(r);
    log(`  ${r.rps.toFixed(0)} rps, RSS ${r.rssBeforeMB.toFixed(1)} MB before, peak (VmHWM) ${r.peakMB.toFixed(1)} MB, RSS at the end ${r.rssMB.at(-1)?.toFixed(1) ?? '—'} MB`);
    if (r.errors) warnings.push(`the sustained ${mode} load had errors`);
    await stop(h.child);
    if (env.BENCH_KEEP !== '1') rmSync(h.dir, { recursive: true, force: true });
  }

  const memHub = await startHub(upstream.port);
  log('memory: 1,000 concurrent open streams through a fresh hub…');
  const open = await openStreams(memHub.url, memHub.key, memHub.pid);
  log(`  ${open.open}/${open.requested} open, ${open.failed} failed, hub RSS ${open.rssBeforeMB.toFixed(1)} → ${open.rssOpenMB.toFixed(1)} MB`);
  if (open.open !== open.requested) warnings.push(`only ${open.open} of ${open.requested} streams were open when RSS was sampled (${open.failed} failed${open.firstError ? `: ${open.firstError}` : ''})`);
  await sleep(1000);

  let grown = null;
  if (MEMORY) {
    log('memory: 50,000 requests of warm-up, then 100,000 more through the same hub (wrk, c=32)…');
    const script = luaScript(memHub.dir, 'memhub', { model: tgt.hub.model, messages }, memHub.key);
    grown = await growth(`${memHub.url}/v1/chat/completions`, script, memHub.pid, upstream.child.pid!);
    log(`  RSS ${grown.marks.map((m) => `${m.rssMB.toFixed(1)} MB after ${m.requests}`).join(', ')}`);
    if (grown.errors) warnings.push('the 100,000-request memory run had errors');
  }

  // With the load stopped, whatever keeps the machine busy is someone else's work.
  const ours = () => [memHub.pid, upstream.child.pid!, proxy.child.pid!].reduce((a, pid) => a + cpuSeconds(pid), 0);
  const idle1 = machineTicks();
  const ours1 = ours();
  await sleep(2000);
  const idle2 = machineTicks();
  const busyAfter = busyPct(idle1, idle2);
  const oursPct = (100 * (ours() - ours1) * CLK_TCK) / (idle2.total - idle1.total);
  if (busyAfter - oursPct > 10) warnings.push(`other processes kept the machine ${(busyAfter - oursPct).toFixed(0)}% busy at the end of the benchmark: figures are noisier than usual`);
  await stop(memHub.child);
  killAll();
  if (env.BENCH_KEEP !== '1') rmSync(memHub.dir, { recursive: true, force: true });

  const report: Report = {
    meta: { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? '?', seconds: SECONDS, rounds: ROUNDS,
      streamsPerPath: STREAMS, hubCommand: hub.command.replaceAll(hub.dir, '<tmp>'), hubLogLines, machineBusyPctBefore: busyBefore, machineBusyPctAfter: busyAfter, benchProcessesBusyPctAfter: oursPct, hubDataDirs: env.BENCH_KEEP === '1' ? [hub.dir, memHub.dir] : undefined },
    concurrency: CONCURRENCY, summary, paired, streams, sustained: peaks, openStreams: open, growth: grown, warnings,
  };
  const md = markdown(report);
  const out = join(BENCH, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify({ ...report, targets: targets(report), runs, streamRuns, streamSamples: samples }, null, 2) + '\n');
  writeFileSync(join(out, 'latest.md'), md);
  process.stdout.write(md);
}

runBench(main);
