/**
 * decompose: a planner turns the conversation into a JSON plan of sub-tasks with dependencies
 * (prompt in prompts.ts, format and validation in plan.ts); each task goes to the first worker
 * whose skills include the task's skill (case-insensitive; no skill or no match: the first
 * worker); a task starts as soon as every task it depends on has finished, so independent tasks
 * run in parallel and each sees its dependencies' results; the synthesizer, streamed, writes the
 * final answer from every result.
 *
 * An invalid plan (malformed JSON, no tasks, duplicate ids, unknown or self dependencies,
 * cycles, more tasks than maxCalls − 2) fails the request with HubError 'upstream' (502),
 * code `invalid_plan`, naming the problem: the planner model, not the client, got it wrong.
 * Before any worker runs, the plan's fan-out (plan + tasks + synthesis) is checked against the
 * ceilings. Quorum: sub-tasks that must succeed (default: all); a task whose dependency failed
 * is not run and counts as failed; the synthesizer is told which tasks failed.
 */
import { z } from 'zod';
import { HubError } from '../core/errors.js';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { commonFields, defineVirtualKind, modelName } from './config.js';
import type { Plan, PlanTask } from './plan.js';
import { PlanError, parsePlan } from './plan.js';
import { plannerMessages, synthesizerMessages, workerMessages } from './prompts.js';
import type { DoneTask } from './prompts.js';
import { Run, assertSingleChoice, memberRequest, promptRequest } from './run.js';
import type { Failure, VirtualModelOptions } from './run.js';

const workerSchema = z.strictObject({
  model: modelName,
  /** Skills the planner may assign to this worker, e.g. [code, math]. */
  skills: z.array(z.string().min(1)).default([]),
});

export const decomposeSchema = z
  .strictObject({
    kind: z.literal('decompose'),
    ...commonFields,
    planner: modelName,
    workers: z.array(workerSchema).min(1),
    synthesizer: modelName,
  })
  .superRefine((c, ctx) => {
    if (c.maxCalls < 3) ctx.addIssue({ code: 'custom', path: ['maxCalls'], message: 'decompose needs at least 3 calls (plan, one task, synthesis)' });
  });

export type DecomposeConfig = z.infer<typeof decomposeSchema>;

export class DecomposeModel implements Model {
  readonly provider = 'virtual:decompose';
  readonly name: string;

  constructor(
    readonly config: DecomposeConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'decompose';
  }

  /** The worker for a skill: the first whose skills include it, else the first worker. */
  workerFor(skill: string | undefined): string {
    const s = skill?.toLowerCase();
    const w = s === undefined ? undefined : this.config.workers.find((x) => x.skills.some((k) => k.toLowerCase() === s));
    return (w ?? this.config.workers[0]!).model;
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const { config } = this;
    const run = new Run({ name: this.name, kind: 'decompose', maxCalls: config.maxCalls, maxCostUsd: config.maxCostUsd, timeoutMs: config.timeoutMs }, this.caller, signal);
    const maxTasks = config.maxCalls - 2;
    const synthEstimate = memberRequest(request, config.synthesizer, { tools: true });

    const planRequest = promptRequest(request, config.planner, plannerMessages(request.messages, config.workers, maxTasks));
    run.preflight('decompose (plan, one task, synthesis)', [
      { model: config.planner, request: planRequest },
      { model: this.workerFor(undefined), request: promptRequest(request, this.workerFor(undefined), request.messages) },
      { model: config.synthesizer, request: synthEstimate },
    ]);
    const planned = await run.mustCall('plan', 'planner', config.planner, planRequest);
    let plan: Plan;
    try {
      plan = parsePlan(planned.text, maxTasks);
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      run.annotate(planned.step, { valid: false, problem: err.message });
      throw new HubError('upstream', `${run.label}: planner '${config.planner}' returned an invalid plan: ${err.message}.`, { code: 'invalid_plan' });
    }
    run.annotate(planned.step, { valid: true, tasks: plan.tasks.map((t) => t.id) });

    const k = plan.tasks.length;
    run.preflight(`the plan's ${k} sub-task(s) and the synthesis`, [
      ...plan.tasks.map((t) => ({ model: this.workerFor(t.skill), request: promptRequest(request, this.workerFor(t.skill), request.messages) })),
      { model: config.synthesizer, request: synthEstimate },
    ]);

    const done = new Map<string, DoneTask>();
    const failures: Failure[] = [];
    const running = new Map<string, Promise<void>>();
    const byId = new Map(plan.tasks.map((t) => [t.id, t]));
    const runTask = (t: PlanTask): Promise<void> => {
      let p = running.get(t.id);
      if (!p) {
        p = (async () => {
          await Promise.all(t.dependsOn.map((d) => runTask(byId.get(d)!)));
          const deps = t.dependsOn.map((d) => done.get(d)!);
          const failedDep = deps.find((d) => d.result === undefined);
          if (failedDep) {
            const error = `not run: dependency '${failedDep.id}' failed`;
            done.set(t.id, { id: t.id, task: t.task, result: undefined, error });
            failures.push({ label: `sub-task '${t.id}'`, error: new HubError('upstream', error) });
            return;
          }
          const worker = this.workerFor(t.skill);
          const o = await run.tryCall(`subtask:${t.id}`, worker, promptRequest(request, worker, workerMessages(request.messages, t, deps)), {
            task: t.id,
            ...(t.skill !== undefined && { skill: t.skill }),
            dependsOn: t.dependsOn,
          });
          if (o.status === 'ok') {
            done.set(t.id, { id: t.id, task: t.task, result: o.answer.text });
            return;
          }
          const error = o.status === 'failed' ? o.error : run.ceilingError(o.refusal);
          done.set(t.id, { id: t.id, task: t.task, result: undefined, error: error.message });
          failures.push({ label: `sub-task '${t.id}' (${worker})`, error });
        })();
        running.set(t.id, p);
      }
      return p;
    };
    await Promise.all(plan.tasks.map(runTask));

    const results = plan.tasks.map((t) => done.get(t.id)!);
    const succeeded = results.filter((r) => r.result !== undefined).length;
    const quorum = Math.min(config.quorum ?? k, k);
    if (succeeded < quorum) {
      throw run.quorumError(`only ${succeeded} of ${k} sub-tasks succeeded; the quorum is ${quorum}`, failures);
    }

    const synth = memberRequest({ ...request, messages: synthesizerMessages(request.messages, results) }, config.synthesizer, { tools: true });
    yield* run.streamFinal('synthesize', 'synthesizer', config.synthesizer, synth, { results: succeeded });
    yield* run.finish({
      tasks: plan.tasks.map((t) => ({
        id: t.id,
        ...(t.skill !== undefined && { skill: t.skill }),
        worker: this.workerFor(t.skill),
        dependsOn: t.dependsOn,
        ok: done.get(t.id)!.result !== undefined,
      })),
      succeeded,
    });
  }
}

/** The `decompose` kind: its config, the models it calls and its constructor (listed in kinds.ts). */
export const decomposeKind = defineVirtualKind({
  kind: 'decompose',
  schema: decomposeSchema,
  members: (c) => [c.planner, ...c.workers.map((w) => w.model), c.synthesizer],
  create: (c, caller, options) => new DecomposeModel(c, caller, options),
});
