/**
 * `baimo eval run SUITE.yaml` and `baimo eval trust MODEL…`: runs a suite (src/eval/), or the
 * shipped trust suites, through the gateway in this process, with the hub's config and data
 * directory as `baimo chat` does, or against a running hub with `--base-url` and `--api-key`.
 * Exit codes: 0 when the suite's pass threshold is met, 1 when it is missed (or the run stopped at
 * its cost ceiling), 2 for usage and suite errors, 130 when cancelled (SIGINT); a stopped run
 * keeps what it finished in its resume file (cli/eval-resume.ts). Loaded by cli/eval.ts only for
 * these two commands: it brings the gateway and the stores with it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { timeOrderedId } from '../core/ids.js';
import { AnswerCache } from '../eval/cache.js';
import { gatewayCaller, httpCaller } from '../eval/caller.js';
import { progressWriter } from '../eval/progress.js';
import { htmlReport } from '../eval/report/html.js';
import { jsonReport } from '../eval/report/json.js';
import { junitReport } from '../eval/report/junit.js';
import { runSuite } from '../eval/run.js';
import type { RunResult } from '../eval/run.js';
import { caseCount, LIMITS, loadSuite, modelNames } from '../eval/suite.js';
import type { Suite } from '../eval/suite.js';
import { runTrust } from '../eval/trust/run.js';
import { trustReport } from '../eval/trust/report.js';
import { isPerspective, loadTrustSuite, PERSPECTIVES } from '../eval/trust/suites.js';
import type { Perspective } from '../eval/trust/suites.js';
import { trustSummary, trustTable } from '../eval/trust/summary.js';
import { SuiteError } from '../eval/types.js';
import type { EvalCaller } from '../eval/types.js';
import { loggingSeqs, readResume, ResumeLog } from './eval-resume.js';
import type { ResumeKind, ResumeState } from './eval-resume.js';
import { UsageError } from './eval-resume.js';
import { openLocalGateway } from './local.js';

/**
 * The resume file a run writes as it goes: the one it was resumed from, or a new one in
 * DATA_DIR/eval-runs (a file of the old one-object format is copied into a new one).
 */
function resumeLog(dataDir: string, head: { kind: ResumeKind; hash: string; runId: string }, from: { file: string; state: ResumeState } | undefined): ResumeLog {
  if (from && !from.state.legacy) return ResumeLog.append(from.file);
  const dir = join(dataDir, 'eval-runs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return ResumeLog.create(join(dir, `${head.runId}.resume.jsonl`), head, from?.state);
}

/** How the run ended, for the resume file: removed when complete, named when not. */
function endResume(log: ResumeLog, status: string, done: number, planned: number): void {
  if (status === 'complete') return log.remove();
  log.close();
  process.stderr.write(`${status === 'budget' ? 'stopped at the cost ceiling' : 'cancelled'}: ${done}/${planned} cells done; resume with --resume ${log.file}\n`);
}

function positiveInt(v: string | undefined, flag: string, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}`);
  return n;
}

/** What identifies a suite for resuming: its checked content, not its file's bytes alone. */
function suiteHash(s: Suite, repeat: number): string {
  return createHash('sha256').update(JSON.stringify({ ...s, file: undefined, repeat })).digest('hex');
}

function writeReport(path: string, run: RunResult): void {
  const ext = extname(path).toLowerCase();
  const text = ext === '.xml' ? junitReport(run) : ext === '.html' ? htmlReport(run) : `${JSON.stringify(jsonReport(run), null, 2)}\n`;
  writeFileSync(path, text);
}

function summary(run: RunResult): string {
  const s = run.suite;
  const lines = [`${s.description ?? s.file}: run ${run.runId} ${run.status}`];
  const width = Math.max(8, ...s.providers.map((p) => p.label.length));
  for (const [v, p] of s.providers.entries()) {
    const cells = run.results.filter((r) => r.providerIdx === v);
    const passed = cells.filter((r) => r.success).length;
    const cost = cells.reduce((n, r) => n + (r.cost ?? 0), 0);
    lines.push(`  ${p.label.padEnd(width)}  ${passed}/${cells.length} passed  $${cost.toFixed(4)}`);
  }
  if (run.repeat > 1) {
    const flaky = run.cases.filter((c) => c.passes > 0 && !c.passAll).length;
    lines.push(`  repeat ${run.repeat}: ${flaky} flaky case(s) (pass@1 between 0 and 1)`);
  }
  lines.push(`  cases passed ${(run.passRate * 100).toFixed(1)}% (threshold ${(s.threshold * 100).toFixed(1)}%): ${run.thresholdMet ? 'met' : 'missed'} · spent $${run.spentUsd.toFixed(4)}`);
  return `${lines.join('\n')}\n`;
}

/** Ctrl-C stops the run, keeping finished cells; a second Ctrl-C quits at once. */
function onInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nSIGINT: stopping; finished cells are kept (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** What identifies a trust run for resuming: the suites as loaded for these models (--limit, --perspective) and the grader. */
function trustHash(suites: readonly { perspective: Perspective; suite: Suite }[], models: readonly string[], grader: string): string {
  const h = createHash('sha256').update(JSON.stringify({ models, grader }));
  for (const { perspective, suite } of suites) h.update(JSON.stringify({ perspective, suite: { ...suite, file: undefined } }));
  return h.digest('hex');
}

interface ConnectFlags {
  readonly config?: string | undefined;
  readonly 'data-dir'?: string | undefined;
  readonly 'api-key'?: string | undefined;
  readonly 'base-url'?: string | undefined;
}

interface Connection {
  readonly caller: EvalCaller;
  /** The last request-id number used (for a resume file). */
  readonly lastSeq: () => number;
  readonly dataDir: string;
  readonly close: () => Promise<void>;
}

/**
 * The caller a run uses: a running hub (`--base-url`), or the gateway in this process, where a
 * model the hub does not serve is a suite error said before anything is called. `ceiling`: a
 * cost ceiling is set (warn about what it cannot count).
 */
/**
 * A run's start, for `eval run` and `eval trust` alike: the resume file read (when `--resume`),
 * the run id (the resumed one or a new one), the connection, and the resume file it writes as it
 * goes, whose path is said on stderr.
 */
async function openRun(values: ConnectFlags & { resume?: string | undefined }, kind: ResumeKind, hash: string, models: Map<string, string>, ceiling: number | undefined) {
  const resume = values.resume === undefined ? undefined : { file: values.resume, state: readResume(values.resume, kind, hash) };
  const runId = resume?.state.runId ?? timeOrderedId('eval_');
  const conn = await connect(values, models, runId, resume?.state.lastSeq ?? 0, ceiling);
  let log: ResumeLog;
  try {
    log = resumeLog(conn.dataDir, { kind, hash, runId }, resume);
  } catch (err) {
    await conn.close();
    throw err;
  }
  process.stderr.write(`run ${runId}: if it stops, go on with --resume ${log.file}\n`);
  return { resume, runId, conn, log };
}

async function connect(values: ConnectFlags, models: Map<string, string>, runId: string, lastSeq: number, ceiling: number | undefined): Promise<Connection> {
  const env = process.env;
  const apiKey = values['api-key'] ?? env.BAIMO_API_KEY;
  if (values['base-url']) {
    if (ceiling) process.stderr.write('warning: a remote hub reports no cost to its client, so the cost ceiling cannot be enforced here; the key\'s budget on the hub still applies\n');
    return { caller: httpCaller(values['base-url'], apiKey!), lastSeq: () => lastSeq, dataDir: resolve(values['data-dir'] ?? env.BAIMO_DATA_DIR ?? '.baimo'), close: async () => {} };
  }
  const local = await openLocalGateway({ config: values.config, dataDir: values['data-dir'], env });
  try {
    const unknown: string[] = [];
    for (const [name, where] of models) {
      try {
        local.gateway.registry.resolve(name);
      } catch (err) {
        unknown.push(`  - ${where}: ${(err as Error).message}`);
      }
    }
    if (unknown.length) throw new SuiteError(`The suite names models this hub does not serve:\n${unknown.join('\n')}`);
    const g = gatewayCaller(local.gateway, local.principal(apiKey), runId, lastSeq + 1);
    if (ceiling) {
      const unpriced = [...models.keys()].filter((m) => g.worstCaseUsd(m, { model: m, messages: [], maxTokens: 1 }) === undefined);
      if (unpriced.length) process.stderr.write(`warning: no price for ${unpriced.join(', ')}: the cost ceiling counts their calls as free\n`);
    }
    return { caller: g, lastSeq: () => g.lastSeq(), dataDir: local.dataDir, close: () => local.close() };
  } catch (err) {
    await local.close();
    throw err;
  }
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'max-cost': { type: 'string' },
      resume: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      'api-key': { type: 'string' },
      'base-url': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one suite file');
  const out = values.output;
  if (out && !['.json', '.xml', '.html'].includes(extname(out).toLowerCase())) throw new UsageError('-o must end in .json, .xml or .html');
  const repeatFlag = positiveInt(values.repeat, '--repeat', 100);
  const concurrency = positiveInt(values.concurrency, '--concurrency', 64);
  let maxCostUsd: number | undefined;
  if (values['max-cost'] !== undefined) {
    maxCostUsd = Number(values['max-cost']);
    if (!(maxCostUsd > 0) || !Number.isFinite(maxCostUsd)) throw new UsageError('--max-cost must be a positive number of USD');
  }
  const env = process.env;
  const apiKey = values['api-key'] ?? env.BAIMO_API_KEY;
  if (values['base-url'] && !apiKey) throw new UsageError('--base-url needs --api-key (or BAIMO_API_KEY)');

  const suite = loadSuite(positionals[0]!);
  const repeat = repeatFlag ?? suite.repeat ?? 1;
  const calls = caseCount(suite) * repeat;
  if (calls > LIMITS.calls) throw new SuiteError(`the run plans ${calls} model calls (tests × prompts × providers × repeat); at most ${LIMITS.calls} per run`);
  const hash = suiteHash(suite, repeat);
  const { resume, runId, conn, log } = await openRun(values, 'run', hash, modelNames(suite), maxCostUsd ?? suite.maxCostUsd);

  const sigint = onInterrupt();
  const progress = progressWriter(process.stderr);
  let run: RunResult;
  try {
    run = await runSuite(suite, {
      caller: loggingSeqs(conn.caller, conn.lastSeq, log),
      runId,
      repeat,
      concurrency,
      cache: values['no-cache'] || suite.cache === false ? undefined : new AnswerCache(join(conn.dataDir, 'eval-cache')),
      maxCostUsd,
      signal: sigint.signal,
      onProgress: (p) => progress.update(p),
      onResult: (c) => log.cell(c),
      resume: resume?.state.cells.get(''),
    });
  } finally {
    progress.end();
    sigint.dispose();
    log.close();
    await conn.close();
  }
  if (out) writeReport(out, run);
  process.stdout.write(summary(run));
  endResume(log, run.status, run.results.length, run.planned);
  if (run.status !== 'complete') return run.status === 'canceled' ? 130 : 1;
  return run.thresholdMet ? 0 : 1;
}

/** `baimo eval trust`: the shipped trust suites over MODEL…, one table of score, refusal rate and cost. */
export async function trustCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      perspective: { type: 'string', short: 'p', multiple: true },
      limit: { type: 'string' },
      grader: { type: 'string' },
      output: { type: 'string', short: 'o' },
      concurrency: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'max-cost': { type: 'string' },
      resume: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      'api-key': { type: 'string' },
      'base-url': { type: 'string' },
    },
  });
  const models = [...new Set(positionals)];
  if (models.length === 0) throw new UsageError('give at least one model to test');
  const out = values.output;
  if (out && extname(out).toLowerCase() !== '.json') throw new UsageError('-o must end in .json (the trust report is JSON)');
  const names = (values.perspective ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  const bad = names.filter((n) => !isPerspective(n));
  if (bad.length) throw new UsageError(`unknown perspective${bad.length > 1 ? 's' : ''} ${bad.map((b) => `'${b}'`).join(', ')} (known: ${PERSPECTIVES.join(', ')})`);
  const perspectives: readonly Perspective[] = names.length ? PERSPECTIVES.filter((p) => names.includes(p)) : PERSPECTIVES;
  const limit = positiveInt(values.limit, '--limit', LIMITS.tests);
  const concurrency = positiveInt(values.concurrency, '--concurrency', 64);
  let maxCostUsd: number | undefined;
  if (values['max-cost'] !== undefined) {
    maxCostUsd = Number(values['max-cost']);
    if (!(maxCostUsd > 0) || !Number.isFinite(maxCostUsd)) throw new UsageError('--max-cost must be a positive number of USD');
  }
  if (values['base-url'] && !(values['api-key'] ?? process.env.BAIMO_API_KEY)) throw new UsageError('--base-url needs --api-key (or BAIMO_API_KEY)');
  const grader = values.grader ?? models[0]!;

  const suites = perspectives.map((perspective) => ({ perspective, suite: loadTrustSuite(perspective, { models, grader, limit }) }));
  const calls = suites.reduce((n, s) => n + caseCount(s.suite), 0);
  if (calls > LIMITS.calls) throw new SuiteError(`the run plans ${calls} model calls; at most ${LIMITS.calls} per run (use --limit or fewer models)`);
  const named = new Map<string, string>();
  models.forEach((m) => named.set(m, 'MODEL'));
  if (suites.some((s) => s.suite.tests.some((t) => t.assert.some((a) => a.type.endsWith('llm-rubric'))))) named.set(grader, named.has(grader) ? 'MODEL' : '--grader');

  const hash = trustHash(suites, models, grader);
  const { resume, runId, conn, log } = await openRun(values, 'trust', hash, named, maxCostUsd);
  const sigint = onInterrupt();
  const progress = progressWriter(process.stderr);
  let run: Awaited<ReturnType<typeof runTrust>>;
  try {
    run = await runTrust(suites, {
      caller: loggingSeqs(conn.caller, conn.lastSeq, log),
      runId,
      models,
      grader,
      concurrency,
      cache: values['no-cache'] ? undefined : new AnswerCache(join(conn.dataDir, 'eval-cache')),
      maxCostUsd,
      signal: sigint.signal,
      onProgress: (p) => progress.update(p),
      onResult: (perspective, c) => log.cell(c, perspective),
      resume: resume?.state.cells,
    });
  } finally {
    progress.end();
    sigint.dispose();
    log.close();
    await conn.close();
  }
  const summary = trustSummary(run);
  if (out) writeFileSync(out, `${JSON.stringify(trustReport(run, summary), null, 2)}\n`);
  process.stdout.write(trustTable(summary));
  endResume(log, run.status, run.parts.reduce((n, p) => n + p.run.results.length, 0), calls);
  if (run.status === 'canceled') return 130;
  return run.status === 'complete' ? 0 : 1;
}
