/**
 * judge (best of N): N candidate answers (sample i from candidates[i mod M], in parallel), then a
 * judge model picks the best, which is returned as is.
 *
 * - pointwise: one judging call per candidate (in parallel) ending `SCORE: N` (1–10); the highest
 *   score wins; ties go to the earliest candidate; candidates without a readable score rank last.
 * - pairwise: a knockout tournament in candidate order: (1 v 2), (3 v 4), …, an odd one out gets a
 *   bye; matches of a round run in parallel; the judge ends `WINNER: A|B|TIE`; A (the earlier
 *   candidate) advances on A, TIE, an unreadable verdict or a failed judging call.
 *
 * Candidates get the client's whole request (tools included), like vote samples. Fan-out
 * (N + N pointwise, N + N − 1 pairwise) is checked before any call. Quorum (default: a majority
 * of N) counts candidates that answered. If no judging call gives a usable verdict the request
 * fails rather than return an unjudged answer.
 */
import { z } from 'zod';
import { HubError } from '../core/errors.js';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { commonFields, defineVirtualKind, judgeFanOut, judgeSamples, majority, modelName, positiveInt } from './config.js';
import { pairwiseMessages, parseScore, parseWinner, pointwiseMessages } from './prompts.js';
import { Run, assertSingleChoice, choiceText, promptRequest } from './run.js';
import type { Answer, Refusal, VirtualModelOptions } from './run.js';
import { sampleRequest } from './vote.js';

export const judgeSchema = z
  .strictObject({
    kind: z.literal('judge'),
    ...commonFields,
    /** Candidate models; samples are spread round-robin over them (one model + samples: best of N). */
    candidates: z.array(modelName).min(1),
    /** Number of candidate answers. Default: one per candidate model. */
    samples: positiveInt.max(1000).optional(),
    judge: modelName,
    mode: z.enum(['pointwise', 'pairwise']).default('pointwise'),
    /** What the judge looks for; a general helpfulness/correctness rubric by default. */
    rubric: z.string().min(1).optional(),
    /** Overrides the client's temperature for candidates. */
    temperature: z.number().min(0).max(2).optional(),
  })
  .superRefine((c, ctx) => {
    const n = judgeSamples(c);
    const calls = judgeFanOut(n, c.mode);
    if (calls > c.maxCalls) ctx.addIssue({ code: 'custom', path: ['maxCalls'], message: `judge needs ${calls} calls for ${n} candidates (${c.mode}) but maxCalls is ${c.maxCalls}` });
    if (c.quorum !== undefined && c.quorum > n) ctx.addIssue({ code: 'custom', path: ['quorum'], message: `quorum ${c.quorum} exceeds the ${n} candidates` });
  });

export type JudgeConfig = z.infer<typeof judgeSchema>;

interface Candidate {
  /** 0-based candidate index (sample order). */
  readonly i: number;
  readonly answer: Answer;
}

export class JudgeModel implements Model {
  readonly provider = 'virtual:judge';
  readonly name: string;

  constructor(
    readonly config: JudgeConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'judge';
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const { config } = this;
    const run = new Run({ name: this.name, kind: 'judge', maxCalls: config.maxCalls, maxCostUsd: config.maxCostUsd, timeoutMs: config.timeoutMs }, this.caller, signal);
    const n = judgeSamples(config);
    const quorum = Math.min(config.quorum ?? majority(n), n);
    const modelOf = (i: number) => config.candidates[i % config.candidates.length]!;

    const requests = Array.from({ length: n }, (_, i) => sampleRequest(request, modelOf(i), i, config.temperature));
    const judging = judgeFanOut(n, config.mode) - n;
    const judgeEstimate = promptRequest(request, config.judge, request.messages);
    run.preflight(`judging ${n} candidates ${config.mode}`, [
      ...requests.map((r, i) => ({ model: modelOf(i), request: r })),
      ...Array.from({ length: judging }, () => ({ model: config.judge, request: judgeEstimate })),
    ]);

    const calls = requests.map((r, i) => ({ model: modelOf(i), request: r, detail: { candidate: i + 1 }, label: `candidate ${i + 1} (${modelOf(i)})` }));
    const candidates: Candidate[] = await run.callGroup('candidate', calls, quorum, { noun: 'candidates' });

    const picked = config.mode === 'pointwise' ? await this.pointwise(run, request, candidates) : await this.pairwise(run, request, candidates);
    run.annotate(picked.winner.answer.step, { winner: true });
    yield* run.emitAnswer(picked.winner.answer);
    yield* run.finish({
      mode: config.mode,
      candidates: n,
      succeeded: candidates.length,
      winner: picked.winner.i + 1,
      winnerModel: picked.winner.answer.model,
      ...picked.summary,
    });
  }

  private noVerdict(run: Run, refusals: readonly Refusal[], errors: readonly string[]): HubError {
    if (refusals.length > 0 && errors.length === 0) return run.ceilingError(refusals[0]!);
    const why = errors.length > 0 ? ` (${errors.slice(0, 3).join('; ')})` : '';
    return new HubError('upstream', `${run.label}: judge '${this.config.judge}' gave no usable verdict${why}.`, { code: 'no_verdict' });
  }

  private async pointwise(run: Run, request: ChatRequest, candidates: readonly Candidate[]): Promise<{ winner: Candidate; summary: Record<string, unknown> }> {
    const { judge, rubric } = this.config;
    if (candidates.length === 1) return { winner: candidates[0]!, summary: { scores: { [candidates[0]!.i + 1]: null }, note: 'one candidate; not judged' } };
    const outcomes = await Promise.all(
      candidates.map((c) =>
        run.tryCall('judge', judge, promptRequest(request, judge, pointwiseMessages(request.messages, choiceText(c.answer.choice), rubric)), { candidate: c.i + 1 }),
      ),
    );
    const scores = new Map<number, number | undefined>();
    const refusals: Refusal[] = [];
    const errors: string[] = [];
    outcomes.forEach((o, k) => {
      const c = candidates[k]!;
      let score: number | undefined;
      if (o.status === 'ok') {
        score = parseScore(o.answer.text);
        run.annotate(o.answer.step, { score: score ?? null });
        if (score === undefined) errors.push(`no SCORE line for candidate ${c.i + 1}`);
      } else if (o.status === 'refused') refusals.push(o.refusal);
      else errors.push(`candidate ${c.i + 1}: ${o.error.message}`);
      scores.set(c.i, score);
      run.annotate(c.answer.step, { score: score ?? null });
    });
    let best: Candidate | undefined;
    let bestScore = -Infinity;
    for (const c of candidates) {
      const s = scores.get(c.i);
      if (s !== undefined && s > bestScore) {
        best = c;
        bestScore = s;
      }
    }
    if (!best) throw this.noVerdict(run, refusals, errors);
    return { winner: best, summary: { scores: Object.fromEntries([...scores].map(([i, s]) => [String(i + 1), s ?? null])) } };
  }

  private async pairwise(run: Run, request: ChatRequest, candidates: readonly Candidate[]): Promise<{ winner: Candidate; summary: Record<string, unknown> }> {
    const { judge, rubric } = this.config;
    const bracket: { round: number; a: number; b: number; verdict: string; winner: number }[] = [];
    let round = [...candidates];
    let verdicts = 0;
    let matches = 0;
    const refusals: Refusal[] = [];
    const errors: string[] = [];
    for (let r = 1; round.length > 1; r++) {
      const pairs: [Candidate, Candidate][] = [];
      for (let k = 0; k + 1 < round.length; k += 2) pairs.push([round[k]!, round[k + 1]!]);
      const bye = round.length % 2 === 1 ? round[round.length - 1] : undefined;
      const results = await Promise.all(
        pairs.map(([a, b]) =>
          run.tryCall(
            'judge',
            judge,
            promptRequest(request, judge, pairwiseMessages(request.messages, choiceText(a.answer.choice), choiceText(b.answer.choice), rubric)),
            { round: r, a: a.i + 1, b: b.i + 1 },
          ),
        ),
      );
      const next: Candidate[] = [];
      results.forEach((o, k) => {
        const [a, b] = pairs[k]!;
        matches++;
        let verdict: 'A' | 'B' | 'TIE' | undefined;
        if (o.status === 'ok') {
          verdict = parseWinner(o.answer.text);
          if (verdict === undefined) errors.push(`no WINNER line in ${a.i + 1} v ${b.i + 1}`);
        } else if (o.status === 'refused') refusals.push(o.refusal);
        else errors.push(`${a.i + 1} v ${b.i + 1}: ${o.error.message}`);
        if (verdict !== undefined) verdicts++;
        const w = verdict === 'B' ? b : a;
        if (o.status === 'ok') run.annotate(o.answer.step, { verdict: verdict ?? null, winner: w.i + 1 });
        bracket.push({ round: r, a: a.i + 1, b: b.i + 1, verdict: verdict ?? (o.status === 'ok' ? 'unreadable' : o.status), winner: w.i + 1 });
        next.push(w);
      });
      if (bye) next.push(bye);
      round = next;
    }
    if (matches > 0 && verdicts === 0) throw this.noVerdict(run, refusals, errors);
    return { winner: round[0]!, summary: { bracket, ...(matches === 0 && { note: 'one candidate; not judged' }) } };
  }
}

/** The `judge` kind: its config, the models it calls and its constructor (listed in kinds.ts). */
export const judgeKind = defineVirtualKind({
  kind: 'judge',
  schema: judgeSchema,
  members: (c) => [...c.candidates, c.judge],
  create: (c, caller, options) => new JudgeModel(c, caller, options),
});
