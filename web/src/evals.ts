/**
 * The Evaluations page's side of the hub's API (`/v1/evals/*`): the wire types of runs, result
 * cells and comparisons, the pure shaping the page draws from them (the matrix of cases × models,
 * the quality-versus-cost points) and the new run's example suite. No imports and no DOM: the
 * unit tests run it in Node.
 */
export type ReportFormat = 'json' | 'junit' | 'html';

export type RunStatus = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

/** One model's sums over a run (the run object's `stats.models`). */
export interface ModelStats {
  provider: string;
  label: string;
  /** test × prompt cases with every repetition finished. */
  cases: number;
  passed: number;
  pass_rate: number | null;
  mean_score: number | null;
  cost_usd: number;
  mean_cost_usd: number | null;
}

export interface RunStats {
  successes: number;
  failures: number;
  errors: number;
  cases: number;
  pass_rate: number;
  threshold: number;
  threshold_met: boolean;
  tests?: number;
  prompts?: string[];
  models?: ModelStats[];
}

export interface EvalRun {
  id: string;
  object: 'eval.run';
  description: string | null;
  status: RunStatus;
  stop_reason: 'user' | 'max_cost' | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  options: { repeat: number; concurrency: number | null; maxCostUsd: number | null; noCache: boolean };
  progress: { planned: number; done: number; failures: number };
  spent_usd: number;
  /** On list entries: the run's pass rate as `stats.pass_rate` has it (cases passing every try). */
  pass_rate?: number;
  stats?: RunStats;
}

export interface GraderRecord {
  model: string;
  prompt: string;
  output: string;
  costUsd?: number;
  cached: boolean;
}

export interface ComponentResult {
  pass: boolean;
  score: number;
  reason: string;
  assertion: { type: string; value?: unknown; threshold?: number; weight?: number; metric?: string };
  grader?: GraderRecord;
}

/** One cell: a test with a prompt on a model, one repetition. */
export interface EvalCell {
  key: string;
  testIdx: number;
  promptIdx: number;
  /** Absent from hubs older than the console's matrix: read from `key` then. */
  providerIdx?: number;
  repeat: number;
  description: string | null;
  provider: { id: string; label: string };
  prompt: { raw: string; label: string };
  vars: Record<string, unknown>;
  response: { output: string; toolCalls?: unknown[]; usage?: { inputTokens: number; outputTokens: number }; cached: boolean } | null;
  error: string | null;
  success: boolean;
  score: number;
  cost: number;
  latencyMs: number;
  requestId: string | null;
  gradingResult: { pass: boolean; score: number; reason: string; componentResults: ComponentResult[] };
}

export interface Page<T> {
  data: T[];
  has_more: boolean;
  last_id: string | null;
}

export interface CompareSide {
  success: boolean;
  score: number;
  runs: number;
  passes: number;
  output: string;
  cost: number;
}

export interface CompareEntry {
  provider: string;
  prompt: string;
  vars: Record<string, unknown>;
  description?: string;
  a: CompareSide;
  b: CompareSide;
  scoreDelta: number;
}

export interface Comparison {
  object: 'eval.comparison';
  a: { runId?: string };
  b: { runId?: string };
  summary: { matched: number; regressions: number; improvements: number; scoreChanges: number; unchanged: number; onlyInA: number; onlyInB: number };
  regressions: CompareEntry[];
  improvements: CompareEntry[];
  scoreChanges: CompareEntry[];
  onlyInA: { provider: string; prompt: string; vars: Record<string, unknown> }[];
  onlyInB: { provider: string; prompt: string; vars: Record<string, unknown> }[];
}

export const isActive = (s: RunStatus): boolean => s === 'queued' || s === 'running';

// ---------------------------------------------------------------------------------------------
// The matrix: rows = test cases, columns = models (× prompts where a suite has several)
// ---------------------------------------------------------------------------------------------

export function providerIdxOf(c: EvalCell): number {
  if (typeof c.providerIdx === 'number') return c.providerIdx;
  const n = Number(c.key.split(':')[2]);
  return Number.isInteger(n) ? n : 0;
}

export interface Column {
  /** `<provider>:<prompt>` indexes. */
  key: string;
  providerIdx: number;
  promptIdx: number;
  provider: { id: string; label: string };
  promptLabel: string;
}

/** One test × column over its repetitions. */
export interface MatrixCell {
  cells: EvalCell[];
  runs: number;
  passes: number;
  /** passes / runs: the chance one try passes. */
  passAt1: number;
  /** Every repetition passed (pass^N), when all N are in. */
  passAll: boolean;
  meanScore: number;
  /** Every repetition errored (no answer to grade). */
  error: boolean;
}

export interface Row {
  testIdx: number;
  description: string | null;
  vars: Record<string, unknown>;
  cells: Map<string, MatrixCell>;
}

export interface Matrix {
  rows: Row[];
  columns: Column[];
  /** More than one prompt: columns name their prompt too. */
  manyPrompts: boolean;
}

/** The matrix of the cells loaded so far (pages of the results, in suite order). */
export function buildMatrix(cells: readonly EvalCell[]): Matrix {
  const columns = new Map<string, Column>();
  const rows = new Map<number, Row>();
  const groups = new Map<string, EvalCell[]>();
  for (const c of cells) {
    const p = providerIdxOf(c);
    const ck = `${p}:${c.promptIdx}`;
    if (!columns.has(ck)) columns.set(ck, { key: ck, providerIdx: p, promptIdx: c.promptIdx, provider: c.provider, promptLabel: c.prompt.label });
    let row = rows.get(c.testIdx);
    if (!row) rows.set(c.testIdx, (row = { testIdx: c.testIdx, description: c.description, vars: c.vars, cells: new Map() }));
    const gk = `${c.testIdx}|${ck}`;
    let g = groups.get(gk);
    if (!g) groups.set(gk, (g = []));
    g.push(c);
  }
  for (const [gk, list] of groups) {
    const [testIdx, ck] = gk.split('|') as [string, string];
    list.sort((a, b) => a.repeat - b.repeat);
    const passes = list.filter((c) => c.success).length;
    rows.get(Number(testIdx))!.cells.set(ck, {
      cells: list,
      runs: list.length,
      passes,
      passAt1: passes / list.length,
      passAll: passes === list.length,
      meanScore: list.reduce((s, c) => s + (Number.isFinite(c.score) ? c.score : 0), 0) / list.length,
      error: list.every((c) => !!c.error),
    });
  }
  const cols = [...columns.values()].sort((a, b) => a.providerIdx - b.providerIdx || a.promptIdx - b.promptIdx);
  return { rows: [...rows.values()].sort((a, b) => a.testIdx - b.testIdx), columns: cols, manyPrompts: new Set(cols.map((c) => c.promptIdx)).size > 1 };
}

/** A value as one line of text: strings as they are, the rest as JSON. */
export function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** At most `max` characters, with an ellipsis when cut. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

/** A test case as a row heading: its description, else its vars as `name=value` pairs. */
export function caseLabel(row: { description: string | null; vars: Record<string, unknown> }, max = 80): string {
  if (row.description) return truncate(row.description, max);
  const pairs = Object.entries(row.vars).map(([k, v]) => `${k}=${asText(v)}`);
  return truncate(pairs.join(', ').replace(/\s+/g, ' '), max);
}

// ---------------------------------------------------------------------------------------------
// Quality versus cost
// ---------------------------------------------------------------------------------------------

export type CostAxis = 'total' | 'perCase';
export type QualityAxis = 'passRate' | 'meanScore';

export interface ModelPoint {
  id: string;
  label: string;
  x: number;
  y: number;
  cases: number;
}

/** One point per model that has a figure on both axes. */
export function modelPoints(models: readonly ModelStats[], x: CostAxis, y: QualityAxis): ModelPoint[] {
  const out: ModelPoint[] = [];
  for (const m of models) {
    const px = x === 'total' ? m.cost_usd : m.mean_cost_usd;
    const py = y === 'passRate' ? m.pass_rate : m.mean_score;
    if (typeof px !== 'number' || typeof py !== 'number' || !Number.isFinite(px) || !Number.isFinite(py)) continue;
    out.push({ id: m.provider, label: m.label || m.provider, x: px, y: py, cases: m.cases });
  }
  return out;
}

/** The example a new run's form starts with: a suite over (up to) two of the hub's own chat models. */
export function exampleSuite(models: readonly string[]): string {
  const picked = models.length ? models.slice(0, 2) : ['provider/model-a', 'provider/model-b'];
  // A name YAML would read as something else (a colon, a leading *) goes in quotes.
  const providers = picked.map((m) => `  - ${/^[\w./-]+$/.test(m) ? m : JSON.stringify(m)}`).join('\n');
  return `description: Capitals
prompts:
  - 'Answer in one word: what is the capital of {{ country }}?'
providers:
${providers}
tests:
  - vars: { country: France }
    assert:
      - type: icontains
        value: Paris
  - vars: { country: Japan }
    assert:
      - type: icontains
        value: Tokyo
`;
}
