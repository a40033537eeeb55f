/**
 * Assertions a grader model decides, through the hub (charged to the run's key, recorded, cached
 * like any call): `llm-rubric`, `factuality`, `answer-relevance`, `context-faithfulness`. Each
 * keeps what the grader was asked, what it said and the verdict drawn on the result.
 *
 * The prompts follow promptfoo's documented ones: llm-rubric asks for
 * `{"reason", "score" (0–1), "pass"}` (https://www.promptfoo.dev/docs/configuration/expected-outputs/model-graded/llm-rubric/);
 * factuality is OpenAI's evals fact prompt with its five categories, (D) "disagrees" the only
 * failing one (…/model-graded/factuality/). answer-relevance and context-faithfulness ask the
 * grader for a 0–1 score here (promptfoo computes them from generated questions and claim lists);
 * both pass at a score ≥ threshold, 0.7 unless given. The grader's reply is read for its last JSON
 * object that carries the expected key — a grader that explains itself first still counts.
 */
import { SuiteError } from '../types.js';
import type { AssertContext, AssertionSpec, Check, Kind } from './types.js';
import { asText, needString, unitThreshold } from './values.js';

const RUBRIC_SYSTEM = `You are grading output according to a user-specified rubric. If the statement in the rubric is true, then the output passes the test. You respond with a JSON object with this structure: {"reason": string, "pass": boolean, "score": number}. The score is from 0.0 to 1.0.

Examples:

<Output>Hello world</Output>
<Rubric>Content contains a greeting</Rubric>
{"reason": "the content contains the word 'Hello'", "pass": true, "score": 1.0}

<Output>Avast ye swabs, repel the invaders!</Output>
<Rubric>Does not speak like a pirate</Rubric>
{"reason": "'avast ye' is a common pirate term", "pass": false, "score": 0.0}`;

const FACT_SYSTEM = `You are comparing a submitted answer to an expert answer on a given question. Compare the factual content of the submitted answer with the expert answer. Ignore any differences in style, grammar, or punctuation.
The submitted answer may either be a subset or superset of the expert answer, or it may conflict with it. Determine which case applies. Answer the question by selecting one of the following options:
(A) The submitted answer is a subset of the expert answer and is fully consistent with it.
(B) The submitted answer is a superset of the expert answer and is fully consistent with it.
(C) The submitted answer contains all the same details as the expert answer.
(D) There is a disagreement between the submitted answer and the expert answer.
(E) The answers differ, but these differences don't matter from the perspective of factuality.
Respond with a JSON object: {"category": one of "A", "B", "C", "D", "E", "reason": string}.`;

const RELEVANCE_SYSTEM = `You judge whether an answer addresses the question it was given. Score 1.0 when the answer is fully about the question and answers it, 0.0 when it is unrelated; partial credit in between. Respond with a JSON object: {"reason": string, "score": number}.`;

const FAITHFUL_SYSTEM = `You judge whether an answer is faithful to the context it was given: every claim it makes must be supported by the context. Score the fraction of the answer's claims the context supports, from 0.0 to 1.0. Respond with a JSON object: {"reason": string, "score": number}.`;

/** The last JSON object in `text` that has `key`. */
export function lastJsonWith(text: string, key: string): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  for (let start = text.indexOf('{'); start !== -1; start = text.indexOf('{', start + 1)) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        try {
          const v = JSON.parse(text.slice(start, i + 1)) as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v) && key in v) found = v as Record<string, unknown>;
        } catch {
          // not JSON: keep looking
        }
        break;
      }
    }
  }
  return found;
}

function graderModel(a: AssertionSpec, ctx: AssertContext): string | undefined {
  return typeof a.provider === 'string' ? a.provider : (a.provider?.id ?? ctx.grader);
}

const NO_GRADER = 'No grader model: set the assertion\'s provider or defaultTest.options.provider';

async function ask(a: AssertionSpec, ctx: AssertContext, system: string, user: string, verdict: (reply: string) => Omit<Check, 'grader'>): Promise<Check> {
  const model = graderModel(a, ctx);
  if (!model) return { pass: false, score: 0, reason: NO_GRADER };
  let reply: Awaited<ReturnType<AssertContext['grade']>>;
  try {
    reply = await ctx.grade(model, system, user);
  } catch (err) {
    return { pass: false, score: 0, reason: `The grader call failed: ${(err as Error).message}`, grader: { model, prompt: user, output: '', costUsd: undefined, cached: false } };
  }
  return { ...verdict(reply.text), grader: { model, prompt: user, output: reply.text, costUsd: reply.costUsd, cached: reply.cached } };
}

const clamp = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : undefined);

export const llmRubric: Kind = {
  check: needString,
  run: (a, ctx) =>
    ask(a, ctx, RUBRIC_SYSTEM, `<Output>\n${ctx.output}\n</Output>\n<Rubric>\n${asText(a.value)}\n</Rubric>`, (reply) => {
      const v = lastJsonWith(reply, 'pass') ?? lastJsonWith(reply, 'score');
      if (!v) return { pass: false, score: 0, reason: 'The grader did not answer with {"reason", "pass", "score"}' };
      const score = clamp(v.score) ?? (v.pass === true ? 1 : 0);
      // promptfoo: with a threshold, the score decides; without, the grader's pass does.
      const pass = a.threshold !== undefined ? score >= a.threshold : typeof v.pass === 'boolean' ? v.pass : score >= 0.5;
      return { pass, score, reason: typeof v.reason === 'string' ? v.reason : pass ? 'The grader passed it' : 'The grader failed it' };
    }),
};

export const factuality: Kind = {
  check: needString,
  run: (a, ctx) =>
    ask(a, ctx, FACT_SYSTEM, `[Question]: ${ctx.prompt}\n************\n[Submission]: ${ctx.output}\n************\n[Expert]: ${asText(a.value)}`, (reply) => {
      const v = lastJsonWith(reply, 'category');
      const category = typeof v?.category === 'string' ? v.category.trim().replace(/[()]/g, '').toUpperCase() : (/\(([A-E])\)\s*$/.exec(reply.trim())?.[1] ?? '');
      if (!/^[A-E]$/.test(category)) return { pass: false, score: 0, reason: 'The grader did not choose a category A–E' };
      const pass = category !== 'D';
      const reason = typeof v?.reason === 'string' ? v.reason : '';
      return { pass, score: pass ? 1 : 0, reason: `Category ${category}${reason ? `: ${reason}` : ''}` };
    }),
};

function scored(a: AssertionSpec, reply: string): Omit<Check, 'grader'> {
  const v = lastJsonWith(reply, 'score');
  const score = clamp(v?.score);
  if (score === undefined) return { pass: false, score: 0, reason: 'The grader did not answer with {"reason", "score"}' };
  const threshold = a.threshold ?? 0.7;
  return { pass: score >= threshold, score, reason: `Score ${score} ${score >= threshold ? '≥' : '<'} ${threshold}${typeof v?.reason === 'string' ? `: ${v.reason}` : ''}` };
}

/** The question the answer was for: `vars.query` or `vars.question`, else the prompt itself. */
function question(ctx: AssertContext): string {
  const q = ctx.vars.query ?? ctx.vars.question;
  return typeof q === 'string' ? q : ctx.prompt;
}

export const answerRelevance: Kind = {
  check: unitThreshold,
  run: (a, ctx) => ask(a, ctx, RELEVANCE_SYSTEM, `<Question>\n${question(ctx)}\n</Question>\n<Answer>\n${ctx.output}\n</Answer>`, (r) => scored(a, r)),
};

export const contextFaithfulness: Kind = {
  check: unitThreshold,
  run(a, ctx) {
    const c = ctx.vars.context;
    if (c === undefined) throw new SuiteError("'context-faithfulness' needs the test's vars.context");
    const context = Array.isArray(c) ? c.map(asText).join('\n\n') : asText(c);
    return ask(a, ctx, FAITHFUL_SYSTEM, `<Question>\n${question(ctx)}\n</Question>\n<Context>\n${context}\n</Context>\n<Answer>\n${ctx.output}\n</Answer>`, (r) => scored(a, r));
  },
};
