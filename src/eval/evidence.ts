/**
 * Routing by evidence: what an evaluation run measured, per kind of request and model — the pass
 * rate and the mean cost of an answer — read from a run's JSON output (promptfoo-shaped, as
 * `baimo eval run -o results.json` writes it). Each test case names its kind in one of its vars
 * (`kindVar`). The route table sends each kind to the cheapest model whose pass rate on it meets
 * the bar; `heldOut` measures that rule on cases it did not learn from. Pure.
 */

export interface KindStats {
  readonly runs: number;
  readonly passes: number;
  /** Mean USD per answer; 0 when the run knew no price. */
  readonly meanCostUsd: number;
}

export interface Evidence {
  /** Kinds, in order of first appearance. */
  readonly kinds: readonly string[];
  /** Model names (the providers' ids), in order of first appearance. */
  readonly models: readonly string[];
  /** kind → model → stats. */
  readonly stats: ReadonlyMap<string, ReadonlyMap<string, KindStats>>;
  /** Labelled examples (the prompt as the model saw it, its kind), one per test case, for a classifier. */
  readonly examples: readonly { readonly kind: string; readonly text: string }[];
}

/** One cell of a run's results, as far as routing needs it. */
interface Cell {
  readonly testIdx: number;
  readonly model: string;
  readonly kind: string;
  readonly text: string;
  readonly success: boolean;
  readonly cost: number;
}

export class EvidenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvidenceError';
  }
}

/** The user text of a rendered prompt: the last user message of a chat list, else the text itself. */
function promptText(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  try {
    const messages = JSON.parse(raw) as unknown;
    if (Array.isArray(messages)) {
      for (let i = messages.length - 1; i >= 0; i--) {
        const m = messages[i] as { role?: unknown; content?: unknown };
        if (m?.role === 'user' && typeof m.content === 'string') return m.content;
      }
    }
  } catch {
    // Not JSON: a plain prompt.
  }
  return raw;
}

/** The cells of a run's JSON output, each with its kind (`vars[kindVar]`); errors name what is wrong. */
function cellsOf(json: unknown, kindVar: string): Cell[] {
  const results = (json as { results?: { results?: unknown } } | null)?.results?.results;
  if (!Array.isArray(results)) throw new EvidenceError('expected the JSON output of `baimo eval run` (results.results[])');
  const cells: Cell[] = [];
  results.forEach((r: Record<string, unknown>, i) => {
    const provider = r?.provider as { id?: unknown } | string | undefined;
    const model = typeof provider === 'string' ? provider : provider?.id;
    const kind = (r?.vars as Record<string, unknown> | undefined)?.[kindVar];
    if (typeof model !== 'string' || !model) throw new EvidenceError(`results[${i}] names no provider`);
    if (typeof kind !== 'string' || !kind) throw new EvidenceError(`results[${i}] has no var '${kindVar}' naming its kind of request`);
    if (r.error) return; // an upstream failure says nothing about quality
    const prompt = r.prompt as { raw?: unknown } | string | undefined;
    cells.push({
      testIdx: typeof r.testIdx === 'number' ? r.testIdx : i,
      model,
      kind,
      text: promptText(typeof prompt === 'string' ? prompt : prompt?.raw),
      success: r.success === true,
      cost: typeof r.cost === 'number' && Number.isFinite(r.cost) && r.cost > 0 ? r.cost : 0,
    });
  });
  if (cells.length === 0) throw new EvidenceError('the run has no results without errors');
  return cells;
}

function evidenceOf(cells: readonly Cell[]): Evidence {
  const kinds: string[] = [];
  const models: string[] = [];
  const acc = new Map<string, Map<string, { runs: number; passes: number; cost: number }>>();
  const examples = new Map<number, { kind: string; text: string }>();
  for (const c of cells) {
    if (!acc.has(c.kind)) {
      kinds.push(c.kind);
      acc.set(c.kind, new Map());
    }
    if (!models.includes(c.model)) models.push(c.model);
    const byModel = acc.get(c.kind)!;
    const s = byModel.get(c.model) ?? { runs: 0, passes: 0, cost: 0 };
    s.runs++;
    if (c.success) s.passes++;
    s.cost += c.cost;
    byModel.set(c.model, s);
    if (!examples.has(c.testIdx) && c.text) examples.set(c.testIdx, { kind: c.kind, text: c.text });
  }
  const stats = new Map([...acc].map(([k, m]) => [k, new Map([...m].map(([model, s]) => [model, { runs: s.runs, passes: s.passes, meanCostUsd: s.cost / s.runs }]))]));
  return { kinds, models, stats, examples: [...examples.values()] };
}

/** Reads a run's JSON output. */
export function readEvidence(json: unknown, kindVar: string): Evidence {
  return evidenceOf(cellsOf(json, kindVar));
}

export interface Choice {
  readonly model: string;
  readonly passRate: number;
  readonly meanCostUsd: number;
  /** Whether it met the bar (else it is the best there was). */
  readonly meetsBar: boolean;
}

const passRate = (s: KindStats) => (s.runs ? s.passes / s.runs : 0);

/**
 * Per kind, the cheapest model whose pass rate meets `bar` (ties: the higher pass rate); where
 * none does, the model with the highest pass rate (ties: the cheaper). `overall` is the same rule
 * over every kind at once, for requests of a kind the evidence does not know.
 */
export function routeTable(e: Evidence, bar: number): { readonly byKind: ReadonlyMap<string, Choice>; readonly overall: Choice } {
  const pick = (stats: ReadonlyMap<string, KindStats>): Choice => {
    const rows = [...stats].map(([model, s]) => ({ model, passRate: passRate(s), meanCostUsd: s.meanCostUsd }));
    const good = rows.filter((r) => r.passRate >= bar).sort((a, b) => a.meanCostUsd - b.meanCostUsd || b.passRate - a.passRate);
    if (good.length) return { ...good[0]!, meetsBar: true };
    const best = rows.sort((a, b) => b.passRate - a.passRate || a.meanCostUsd - b.meanCostUsd)[0]!;
    return { ...best, meetsBar: false };
  };
  const all = new Map<string, { runs: number; passes: number; cost: number }>();
  for (const byModel of e.stats.values()) {
    for (const [model, s] of byModel) {
      const a = all.get(model) ?? { runs: 0, passes: 0, cost: 0 };
      a.runs += s.runs;
      a.passes += s.passes;
      a.cost += s.meanCostUsd * s.runs;
      all.set(model, a);
    }
  }
  const overall = pick(new Map([...all].map(([m, a]) => [m, { runs: a.runs, passes: a.passes, meanCostUsd: a.cost / a.runs }])));
  return { byKind: new Map([...e.stats].map(([k, s]) => [k, pick(s)])), overall };
}

export interface HeldOutReport {
  readonly trainCases: number;
  readonly testCases: number;
  /** Always the model with the best pass rate over the training cases. */
  readonly best: { readonly model: string; readonly passRate: number; readonly costUsd: number };
  /** Each test case sent where the training cases' table says (its kind known: the classifier's own errors are not counted). */
  readonly routed: { readonly passRate: number; readonly costUsd: number; readonly byModel: Readonly<Record<string, number>> };
  /** 1 − routed cost / best cost. */
  readonly costSaved: number;
  /** routed pass rate / best pass rate. */
  readonly qualityKept: number;
}

/** A deterministic split of test cases: about `testShare` of them held out. */
function heldOutCase(testIdx: number, testShare: number): boolean {
  let h = 0x811c9dc5 ^ testIdx;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 0xffffffff < testShare;
}

/**
 * Routing measured on cases it did not learn from: the table is built from the training cases,
 * then each held-out case is answered by the model the table picks for its kind, and its recorded
 * result and cost are compared with always using the training cases' best model.
 */
export function heldOut(json: unknown, o: { readonly kindVar: string; readonly bar: number; readonly testShare?: number }): HeldOutReport {
  const cells = cellsOf(json, o.kindVar);
  const share = o.testShare ?? 0.3;
  const train = cells.filter((c) => !heldOutCase(c.testIdx, share));
  const test = cells.filter((c) => heldOutCase(c.testIdx, share));
  if (!train.length || !test.length) throw new EvidenceError('too few test cases to hold some out: add cases or change the share');
  const learned = evidenceOf(train);
  const table = routeTable(learned, o.bar);
  // No model meets an impossible bar, so the rule falls back to the best pass rate.
  const best = routeTable(learned, Infinity).overall;
  const testCases = [...new Set(test.map((c) => c.testIdx))];
  const cellOf = (testIdx: number, model: string) => test.filter((c) => c.testIdx === testIdx && c.model === model);
  const mean = (xs: readonly Cell[], f: (c: Cell) => number) => (xs.length ? xs.reduce((n, c) => n + f(c), 0) / xs.length : 0);
  let routedPass = 0;
  let routedCost = 0;
  let bestPass = 0;
  let bestCost = 0;
  const byModel: Record<string, number> = {};
  for (const t of testCases) {
    const kind = test.find((c) => c.testIdx === t)!.kind;
    const model = (table.byKind.get(kind) ?? table.overall).model;
    byModel[model] = (byModel[model] ?? 0) + 1;
    const routed = cellOf(t, model);
    const always = cellOf(t, best.model);
    routedPass += mean(routed, (c) => (c.success ? 1 : 0));
    routedCost += mean(routed, (c) => c.cost);
    bestPass += mean(always, (c) => (c.success ? 1 : 0));
    bestCost += mean(always, (c) => c.cost);
  }
  const n = testCases.length;
  return {
    trainCases: new Set(train.map((c) => c.testIdx)).size,
    testCases: n,
    best: { model: best.model, passRate: bestPass / n, costUsd: bestCost },
    routed: { passRate: routedPass / n, costUsd: routedCost, byModel },
    costSaved: bestCost > 0 ? 1 - routedCost / bestCost : 0,
    qualityKept: bestPass > 0 ? routedPass / bestPass : 1,
  };
}
