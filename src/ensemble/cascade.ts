/**
 * cascade: try models cheapest first; accept the first answer that passes the check, otherwise
 * escalate to the next model. A failed call escalates too. When no answer passes, the last
 * answer is returned and the trace summary says so (`accepted: false`).
 *
 * Each member gets the client's whole request (tools included): its answer is returned as is.
 * With a verifier check, the last model's answer is not verified (it would be returned either
 * way), which saves a call. Ceilings stop the cascade with the best it has (the last answer),
 * or with an error when it has no answer yet.
 */
import { z } from 'zod';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { localCheck } from './checks.js';
import type { LocalCheck } from './checks.js';
import { checkSchema, commonFields, defineVirtualKind, modelName } from './config.js';
import { parseVerdict, verifierMessages } from './prompts.js';
import { Run, assertSingleChoice, choiceText, memberRequest, promptRequest } from './run.js';
import type { Answer, Failure, Refusal, VirtualModelOptions } from './run.js';

export const cascadeSchema = z.strictObject({
  kind: z.literal('cascade'),
  ...commonFields,
  /** Cheapest first; the next is tried only when the previous answer fails the check (or the call fails). */
  models: z.array(modelName).min(1),
  check: checkSchema,
});

export type CascadeConfig = z.infer<typeof cascadeSchema>;

export class CascadeModel implements Model {
  readonly provider = 'virtual:cascade';
  readonly name: string;
  private readonly local: LocalCheck | undefined;

  constructor(
    readonly config: CascadeConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'cascade';
    this.local = localCheck(config.check);
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const { config } = this;
    const check = config.check;
    const run = new Run({ name: this.name, kind: 'cascade', maxCalls: config.maxCalls, maxCostUsd: config.maxCostUsd, timeoutMs: config.timeoutMs }, this.caller, signal);

    let last: Answer | undefined;
    let accepted: Answer | undefined;
    let tried = 0;
    const failures: Failure[] = [];
    let stopped: Refusal | undefined;

    for (const [i, model] of config.models.entries()) {
      const isLast = i === config.models.length - 1;
      const base = memberRequest(request, model, { tools: true });
      const req = check.type === 'logprobs' ? { ...base, logprobs: true } : base;
      const o = await run.tryCall('cascade', model, req, { position: i + 1 });
      if (o.status === 'refused') {
        stopped = o.refusal;
        break;
      }
      tried++;
      if (o.status === 'failed') {
        failures.push({ label: model, error: o.error });
        continue;
      }
      last = o.answer;

      if (this.local) {
        const r = this.local(o.answer.text, o.answer.result);
        run.annotate(o.answer.step, { passed: r.passed, ...r.detail });
        if (r.passed) {
          accepted = o.answer;
          break;
        }
        continue;
      }

      if (check.type !== 'verifier') continue; // unreachable: every other check is local
      if (isLast) {
        run.annotate(o.answer.step, { check: 'verifier', passed: null, note: 'last model: returned without verification' });
        break;
      }
      const messages = verifierMessages(request.messages, choiceText(o.answer.choice), check.prompt);
      const v = await run.tryCall('verify', check.model, promptRequest(request, check.model, messages), { of: model });
      if (v.status === 'refused') {
        stopped = v.refusal;
        run.annotate(o.answer.step, { check: 'verifier', passed: null, note: 'not verified: ceiling reached' });
        break;
      }
      if (v.status === 'failed') {
        run.annotate(o.answer.step, { check: 'verifier', passed: false, note: 'verifier failed' });
        continue;
      }
      const passed = parseVerdict(v.answer.text);
      run.annotate(v.answer.step, { verdict: passed ? 'PASS' : 'FAIL' });
      run.annotate(o.answer.step, { check: 'verifier', passed });
      if (passed) {
        accepted = o.answer;
        break;
      }
    }

    const final = accepted ?? last;
    if (!final) {
      if (stopped && failures.length === 0) throw run.ceilingError(stopped);
      throw run.quorumError(`no model of the cascade answered`, failures, stopped ? [stopped] : []);
    }
    yield* run.emitAnswer(final);
    yield* run.finish({
      check: check.type,
      accepted: accepted !== undefined,
      answeredBy: final.model,
      tried,
      ...(accepted === undefined && { note: 'no answer passed the check; returning the last answer' }),
      ...(stopped && { stoppedBy: stopped.reason }),
    });
  }
}

/** The `cascade` kind: its config, the models it calls and its constructor (listed in kinds.ts). */
export const cascadeKind = defineVirtualKind({
  kind: 'cascade',
  schema: cascadeSchema,
  members: (c) => [...c.models, ...(c.check.type === 'verifier' ? [c.check.model] : [])],
  create: (c, caller, options) => new CascadeModel(c, caller, options),
});
