/**
 * Two runs side by side, case by case: the JSON reports `baimo eval run -o X.json` writes (and
 * the API's json report), matched by provider id + rendered prompt + vars — not by index, so a
 * suite that gained or reordered tests still lines up. A case with several repetitions passes
 * when all of them did (pass^N) and scores their mean. Regressions (passed in A, failed in B)
 * come first, then improvements, then score changes among cases whose verdict held.
 */

export interface CompareSide {
  readonly success: boolean;
  readonly score: number;
  readonly runs: number;
  readonly passes: number;
  /** The first repetition's answer (or error), cut to 2,000 characters. */
  readonly output: string;
  readonly cost: number;
}

export interface CompareEntry {
  readonly provider: string;
  readonly prompt: string;
  readonly vars: Record<string, unknown>;
  readonly description: string | undefined;
  readonly a: CompareSide;
  readonly b: CompareSide;
  readonly scoreDelta: number;
}

export interface Comparison {
  readonly a: { readonly runId: string | undefined };
  readonly b: { readonly runId: string | undefined };
  readonly summary: { readonly matched: number; readonly regressions: number; readonly improvements: number; readonly scoreChanges: number; readonly unchanged: number; readonly onlyInA: number; readonly onlyInB: number };
  readonly regressions: readonly CompareEntry[];
  readonly improvements: readonly CompareEntry[];
  readonly scoreChanges: readonly CompareEntry[];
  readonly onlyInA: readonly { provider: string; prompt: string; vars: Record<string, unknown> }[];
  readonly onlyInB: readonly { provider: string; prompt: string; vars: Record<string, unknown> }[];
}

/** Not a report this can read: the CLI exits 2 on it, the API answers 400. */
export class CompareError extends Error {
  override readonly name = 'CompareError';
}

interface Row {
  provider: string;
  prompt: string;
  vars: Record<string, unknown>;
  description: string | undefined;
  success: boolean;
  score: number;
  output: string;
  cost: number;
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` are the same vars. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function rows(report: unknown, side: string): { runId: string | undefined; rows: Row[] } {
  const r = report as { evalId?: unknown; results?: { results?: unknown } } | null;
  const list = r?.results?.results;
  if (!Array.isArray(list)) throw new CompareError(`${side}: not an eval report (no results.results list); give the JSON that 'baimo eval run -o OUT.json' writes`);
  return {
    runId: typeof r?.evalId === 'string' ? r.evalId : undefined,
    rows: list.map((x: any, i: number): Row => {
      const provider = typeof x?.provider === 'string' ? x.provider : x?.provider?.id;
      const prompt = typeof x?.prompt === 'string' ? x.prompt : x?.prompt?.raw;
      if (typeof provider !== 'string' || typeof prompt !== 'string' || typeof x?.success !== 'boolean') throw new CompareError(`${side}: results[${i}] lacks provider, prompt or success`);
      const output = typeof x.error === 'string' && x.error ? `error: ${x.error}` : typeof x.response?.output === 'string' ? x.response.output : '';
      return {
        provider,
        prompt,
        vars: x.vars !== null && typeof x.vars === 'object' ? x.vars : {},
        description: typeof x.description === 'string' ? x.description : undefined,
        success: x.success,
        score: Number.isFinite(x.score) ? x.score : x.success ? 1 : 0,
        output: output.slice(0, 2000),
        cost: Number.isFinite(x.cost) ? x.cost : 0,
      };
    }),
  };
}

function group(list: Row[]): Map<string, Row[]> {
  const by = new Map<string, Row[]>();
  for (const r of list) {
    const k = `${r.provider}\u0000${r.prompt}\u0000${canonical(r.vars)}`;
    let g = by.get(k);
    if (!g) by.set(k, (g = []));
    g.push(r);
  }
  return by;
}

function side(g: Row[]): CompareSide {
  const passes = g.filter((r) => r.success).length;
  return { success: passes === g.length, score: g.reduce((s, r) => s + r.score, 0) / g.length, runs: g.length, passes, output: g[0]!.output, cost: g.reduce((s, r) => s + r.cost, 0) };
}

const SCORE_EPSILON = 1e-9;

export function compareReports(reportA: unknown, reportB: unknown): Comparison {
  const A = rows(reportA, 'A');
  const B = rows(reportB, 'B');
  const ga = group(A.rows);
  const gb = group(B.rows);
  const regressions: CompareEntry[] = [];
  const improvements: CompareEntry[] = [];
  const scoreChanges: CompareEntry[] = [];
  let unchanged = 0;
  const onlyInA: Comparison['onlyInA'][number][] = [];
  for (const [k, la] of ga) {
    const lb = gb.get(k);
    const f = la[0]!;
    if (!lb) {
      onlyInA.push({ provider: f.provider, prompt: f.prompt, vars: f.vars });
      continue;
    }
    const a = side(la);
    const b = side(lb);
    const e: CompareEntry = { provider: f.provider, prompt: f.prompt, vars: f.vars, description: f.description ?? lb[0]!.description, a, b, scoreDelta: b.score - a.score };
    if (a.success && !b.success) regressions.push(e);
    else if (!a.success && b.success) improvements.push(e);
    else if (Math.abs(e.scoreDelta) > SCORE_EPSILON) scoreChanges.push(e);
    else unchanged++;
  }
  const onlyInB = [...gb].filter(([k]) => !ga.has(k)).map(([, l]) => ({ provider: l[0]!.provider, prompt: l[0]!.prompt, vars: l[0]!.vars }));
  // Score changes: the largest drops first.
  scoreChanges.sort((x, y) => x.scoreDelta - y.scoreDelta);
  const matched = regressions.length + improvements.length + scoreChanges.length + unchanged;
  return {
    a: { runId: A.runId },
    b: { runId: B.runId },
    summary: { matched, regressions: regressions.length, improvements: improvements.length, scoreChanges: scoreChanges.length, unchanged, onlyInA: onlyInA.length, onlyInB: onlyInB.length },
    regressions,
    improvements,
    scoreChanges,
    onlyInA,
    onlyInB,
  };
}

/** The comparison as terminal text: summary line, then each regression, improvement and score change. */
export function comparisonText(c: Comparison): string {
  const s = c.summary;
  const lines = [
    `compare ${c.a.runId ?? 'A'} → ${c.b.runId ?? 'B'}: ${s.matched} matched · ${s.regressions} regression(s) · ${s.improvements} improvement(s) · ${s.scoreChanges} score change(s) · ${s.unchanged} unchanged` +
      (s.onlyInA || s.onlyInB ? ` · ${s.onlyInA} only in A · ${s.onlyInB} only in B` : ''),
  ];
  const label = (e: CompareEntry) => `${e.provider} · ${e.description ?? e.prompt.slice(0, 80)}${Object.keys(e.vars).length ? ` · ${JSON.stringify(e.vars).slice(0, 120)}` : ''}`;
  const one = (tag: string, e: CompareEntry) => `  ${tag} ${label(e)}  score ${e.a.score.toFixed(2)} → ${e.b.score.toFixed(2)}`;
  for (const e of c.regressions) lines.push(one('REGRESSION ', e), `      B: ${JSON.stringify(e.b.output.slice(0, 200))}`);
  for (const e of c.improvements) lines.push(one('improvement', e));
  for (const e of c.scoreChanges) lines.push(one('score      ', e));
  return `${lines.join('\n')}\n`;
}
