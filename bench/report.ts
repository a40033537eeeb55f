/**
 * Turns the raw results into the issue-10 report: a markdown table of direct / calibration
 * proxy / hub at each concurrency, the stream and memory figures, and each target of the
 * issue as a ratio from this one run with whether it is met.
 */
import type { OpenStreamsResult, GrowthResult, SustainedResult } from './memory.js';
import { median } from './stats.js';

export type TargetName = 'direct' | 'proxy' | 'hub';
export const LABEL: Record<TargetName, string> = { direct: 'direct', proxy: 'calibration proxy', hub: 'hub' };

export interface Summary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number | null;
  rssMB: number | null;
  errors: boolean;
}

export interface StreamSummary {
  n: number;
  failed: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  devNominalP50Ms: number;
  devNominalP99Ms: number;
  devSentP50Ms: number;
  devSentP99Ms: number;
  /** p99 over every single gap (not per stream) of |received − sent gap|. */
  devSentAllGapsP99Ms: number;
}

export interface Target {
  name: string;
  measured: string;
  goal: string;
  met: boolean | null;
}

export interface Report {
  meta: Record<string, unknown>;
  concurrency: number[];
  /** summary[target][concurrency] = medians over rounds. */
  summary: Record<TargetName, Record<number, Summary>>;
  /** Per round: hub / proxy at c=32 (throughput, CPU per request; non-streaming and streaming) and hub − direct p50 at c=1. */
  paired: { throughput: number[]; cpu: number[]; addedC1Ms: number[]; streamThroughput?: number[]; streamCpu?: number[] };
  streams: Record<TargetName, StreamSummary>;
  /** Peak RSS through sustained c=32 load, one fresh hub per mode (absent in older reports). */
  sustained?: SustainedResult[];
  openStreams: OpenStreamsResult;
  growth: GrowthResult | null;
  warnings: string[];
}

const f = (x: number | null | undefined, d = 2) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const mark = (met: boolean | null) => (met === null ? '—' : met ? '✅' : '❌');

export function targets(r: Report): Target[] {
  const hub32 = r.summary.hub[32];
  const proxy32 = r.summary.proxy[32];
  const mid = (xs: number[]) => (xs.length ? median(xs) : NaN);
  const rounds = (xs: number[], scale: number, d: number) => (xs.length > 1 ? `; rounds ${xs.map((x) => f(x * scale, d)).join(', ')}` : '');
  const tput = mid(r.paired.throughput);
  const cpu = mid(r.paired.cpu);
  const added = mid(r.paired.addedC1Ms);
  const sTput = mid(r.paired.streamThroughput ?? []);
  const sCpu = mid(r.paired.streamCpu ?? []);
  const ttft = r.streams.hub.ttftP50Ms - r.streams.direct.ttftP50Ms;
  const gap = r.streams.hub.devSentP50Ms;
  const os = r.openStreams;
  const g = r.growth;
  return [
    { name: 'Throughput at c=32, hub / proxy (median of per-round ratios)', measured: `${f(tput * 100, 1)}%${rounds(r.paired.throughput, 100, 1)}`, goal: '≥ 70%', met: Number.isFinite(tput) ? tput >= 0.7 : null },
    { name: 'CPU per request at c=32, hub / proxy (median of per-round ratios)', measured: `${f(cpu)}× (medians ${f(hub32?.cpuUsPerReq, 0)} vs ${f(proxy32?.cpuUsPerReq, 0)} µs${rounds(r.paired.cpu, 1, 2)})`, goal: '≤ 1.5×', met: Number.isFinite(cpu) ? cpu <= 1.5 : null },
    ...(r.paired.streamThroughput?.length
      ? [
          { name: 'Streaming throughput at c=32 (20 chunks, usage on), hub / proxy (median of per-round ratios)', measured: `${f(sTput * 100, 1)}%${rounds(r.paired.streamThroughput, 100, 1)}`, goal: '≥ 70%', met: Number.isFinite(sTput) ? sTput >= 0.7 : null },
          { name: 'Streaming CPU per request at c=32, hub / proxy (median of per-round ratios)', measured: `${f(sCpu)}×${rounds(r.paired.streamCpu ?? [], 1, 2)}`, goal: '≤ 1.5×', met: Number.isFinite(sCpu) ? sCpu <= 1.5 : null },
        ]
      : []),
    { name: 'Added p50 latency at c=1, hub − direct (median of per-round differences)', measured: `${f(added, 3)} ms${rounds(r.paired.addedC1Ms, 1, 3)}`, goal: '≤ 0.2 ms', met: Number.isFinite(added) ? added <= 0.2 : null },
    { name: 'Added time to first token (streams, c=1, p50)', measured: `${f(ttft, 3)} ms`, goal: '≤ 1 ms', met: Number.isFinite(ttft) ? ttft <= 1 : null },
    { name: 'Inter-chunk gaps preserved: largest \\|received − sent gap\\| in the median stream', measured: `${f(gap, 3)} ms (p99 stream ${f(r.streams.hub.devSentP99Ms, 3)} ms, direct ${f(r.streams.direct.devSentP99Ms, 3)} ms)`, goal: '≤ 1 ms', met: Number.isFinite(gap) ? gap <= 1 : null },
    ...(r.sustained ?? []).map((p) => ({
      name: `Peak hub RSS (VmHWM) through ${p.seconds} s of sustained c=32 load, ${p.mode === 'stream' ? 'streaming' : 'non-streaming'}, usage store on (issue 17)`,
      measured: `${f(p.peakMB, 1)} MB (${f(p.rps, 0)} rps; fresh hub, ${f(p.rssBeforeMB, 1)} MB before, ${f(p.rssMB.at(-1), 1)} MB at the end)`,
      goal: '≤ 250 MB',
      met: p.errors ? false : p.peakMB <= 250,
    })),
    { name: '1,000 concurrent open streams, hub RSS', measured: `${f(os.rssOpenMB, 1)} MB (${os.open}/${os.requested} open; fresh hub, ${f(os.rssBeforeMB, 1)} MB before)`, goal: '≤ 200 MB', met: os.open === os.requested ? os.rssOpenMB <= 200 : false },
    { name: 'Memory growth over 100k requests after a 50k warm-up, 50k → 150k (lowest RSS of the last three marks − of the first three)', measured: g ? `${f(g.growthMB, 1)} MB (RSS ${g.marks.map((m) => `${Math.round(m.requests / 1000)}k: ${f(m.rssMB, 0)}`).join(', ')} MB)` : 'not run (set BENCH_MEMORY=1)', goal: '≈ 0 (≤ 10 MB)', met: g ? g.growthMB <= 10 : null },
  ];
}

export function markdown(r: Report): string {
  const cs = r.concurrency;
  const names: TargetName[] = ['direct', 'proxy', 'hub'];
  const lines: string[] = [];
  lines.push(`Measured ${String(r.meta.date)} on ${String(r.meta.cpus)} CPUs (${String(r.meta.cpuModel)}), Node ${String(r.meta.node)}; ` +
    `wrk ${String(r.meta.seconds)} s per run, median of ${String(r.meta.rounds)} round(s) in rotated order; hub: \`${String(r.meta.hubCommand)}\` with key auth, usage accounting and logging on.`);
  lines.push('');
  lines.push(`| | ${cs.map((c) => `c=${c} rps | c=${c} p50 ms | c=${c} p99 ms`).join(' | ')} | CPU µs/req (c=32) | RSS MB |`);
  lines.push(`|---|${cs.map(() => '---:|---:|---:').join('|')}|---:|---:|`);
  for (const n of names) {
    const row = cs.map((c) => {
      const s = r.summary[n][c];
      return s ? `${f(s.rps, 0)}${s.errors ? ' ⚠' : ''} | ${f(s.p50Ms, 3)} | ${f(s.p99Ms, 3)}` : '— | — | —';
    });
    const s32 = r.summary[n][32];
    lines.push(`| ${LABEL[n]} | ${row.join(' | ')} | ${f(s32?.cpuUsPerReq, 0)} | ${f(s32?.rssMB, 1)} |`);
  }
  lines.push('');
  const d32 = r.summary.direct[32]?.rps ?? NaN;
  lines.push(`Reference at c=32: proxy reaches ${f(((r.summary.proxy[32]?.rps ?? NaN) / d32) * 100, 1)}% of direct, hub ${f(((r.summary.hub[32]?.rps ?? NaN) / d32) * 100, 1)}%.`);
  lines.push('');
  lines.push('Streams (c=1, 20 chunks 10 ms apart):');
  lines.push('');
  lines.push('Gap deviation is, per stream, the largest |received gap − nominal 10 ms| or |received gap − gap as sent|, then p50 / p99 over streams; the last column is p99 over all single gaps.');
  lines.push('');
  lines.push('| | TTFT p50 ms | TTFT added ms | max gap dev vs 10 ms p50 / p99 | max gap dev vs sent p50 / p99 | any gap vs sent p99 | failed |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const n of names) {
    const s = r.streams[n];
    lines.push(`| ${LABEL[n]} | ${f(s.ttftP50Ms, 3)} | ${n === 'direct' ? '—' : f(s.ttftP50Ms - r.streams.direct.ttftP50Ms, 3)} | ${f(s.devNominalP50Ms, 3)} / ${f(s.devNominalP99Ms, 3)} | ${f(s.devSentP50Ms, 3)} / ${f(s.devSentP99Ms, 3)} | ${f(s.devSentAllGapsP99Ms, 3)} | ${s.failed}/${s.n} |`);
  }
  lines.push('');
  lines.push('| Issue-10 target | Measured | Goal | Met |');
  lines.push('|---|---|---|:---:|');
  for (const t of targets(r)) lines.push(`| ${t.name} | ${t.measured} | ${t.goal} | ${mark(t.met)} |`);
  if (r.warnings.length) {
    lines.push('');
    lines.push('Warnings:');
    for (const w of r.warnings) lines.push(`- ${w}`);
  }
  return lines.join('\n') + '\n';
}
