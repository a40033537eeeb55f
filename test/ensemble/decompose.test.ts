import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import { DecomposeModel, createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import { PlanError, parsePlan } from '../../src/ensemble/plan.js';
import { FakeCaller, allText, ask, events, expectShape, failure, textOf, traceOf, usageOf } from './fake-caller.js';
import type { CallRecord } from './fake-caller.js';

const workers = [
  { model: 'writer', skills: ['writing'] },
  { model: 'coder', skills: ['Code', 'math'] },
];

function decompose(config: Record<string, unknown>, caller: FakeCaller): DecomposeModel {
  return createVirtualModel(virtualModelSchema.parse({ kind: 'decompose', planner: 'planner', workers, synthesizer: 'synth', ...config }), caller, { name: 'd' }) as DecomposeModel;
}

const plan = (tasks: unknown[]) => JSON.stringify({ tasks });
const taskOf = (c: CallRecord) => /Your sub-task \(([^)]+)\)/.exec(allText(c.request.messages))?.[1];

describe('decompose: plans', () => {
  it('accepts a fenced plan and defaults depends_on', () => {
    const p = parsePlan('```json\n{"tasks":[{"id":"a","task":"do a"},{"id":"b","task":"do b","skill":"code","depends_on":["a"]}]}\n```', 10);
    expect(p.tasks).toEqual([
      { id: 'a', task: 'do a', dependsOn: [] },
      { id: 'b', task: 'do b', skill: 'code', dependsOn: ['a'] },
    ]);
  });

  it.each([
    ['{"tasks": [', 'not valid JSON'],
    ['{"steps": []}', '"tasks" array'],
    ['{"tasks": []}', 'no tasks'],
    [plan([{ id: 'a', task: 'x' }, { id: 'a', task: 'y' }]), "duplicate task id 'a'"],
    [plan([{ id: 'a', task: 'x', depends_on: ['zzz'] }]), "task 'a' depends on unknown task 'zzz'"],
    [plan([{ id: 'a', task: 'x', depends_on: ['a'] }]), "task 'a' depends on itself"],
    [plan([{ id: 'a', task: 'x', depends_on: ['c'] }, { id: 'b', task: 'y', depends_on: ['a'] }, { id: 'c', task: 'z', depends_on: ['b'] }]), 'cycle: a → c → b → a'],
    [plan([{ id: 'a' }]), "task 'a' has no \"task\" text"],
    [plan([{ task: 'x' }]), 'task 1 has no id'],
    [plan([{ id: 'a', task: 'x', depends_on: 'b' }]), 'not a list of ids'],
    [plan([1, 2, 3, 4].map((i) => ({ id: `t${i}`, task: 'x' }))), 'more than the 3 allowed'],
  ])('rejects %s', (text, problem) => {
    expect(() => parsePlan(text, 3)).toThrow(PlanError);
    expect(() => parsePlan(text, 3)).toThrow(problem);
  });
});

describe('decompose', () => {
  it('runs the plan in dependency order, independent tasks in parallel, and streams the synthesis', async () => {
    const caller = new FakeCaller(
      {
        planner: plan([
          { id: 'facts', task: 'Collect the facts', skill: 'writing', depends_on: [] },
          { id: 'calc', task: 'Compute the numbers', skill: 'math', depends_on: [] },
          { id: 'report', task: 'Write the report', depends_on: ['facts', 'calc'] },
        ]),
        writer: (r) => `result of ${taskOf({ request: r } as CallRecord)}`,
        coder: (r) => `result of ${taskOf({ request: r } as CallRecord)}`,
        synth: { text: 'Final report.', chunks: ['Final', ' report', '.'] },
      },
      { delayMs: 30 },
    );
    const evs = await events(decompose({}, caller), ask('Write a report on X'));
    expectShape(evs);
    expect(evs.filter((e) => e.type === 'text')).toHaveLength(3);
    expect(textOf(evs)).toBe('Final report.');

    const [planCall, ...rest] = caller.calls;
    expect(planCall!.model).toBe('planner');
    expect(allText(planCall!.request.messages)).toContain('Write a report on X');
    expect(allText(planCall!.request.messages)).toContain('writing, Code, math');
    const facts = rest.find((c) => taskOf(c) === 'facts')!;
    const calc = rest.find((c) => taskOf(c) === 'calc')!;
    const report = rest.find((c) => taskOf(c) === 'report')!;
    expect([facts.model, calc.model, report.model]).toEqual(['writer', 'coder', 'writer']); // skill match (case-insensitive), else first worker
    // facts and calc overlap; report starts after both ended and sees both results.
    expect(facts.startedAt).toBeLessThan(calc.endedAt!);
    expect(calc.startedAt).toBeLessThan(facts.endedAt!);
    expect(report.startedAt).toBeGreaterThanOrEqual(Math.max(facts.endedAt!, calc.endedAt!));
    expect(allText(report.request.messages)).toContain('result of facts');
    expect(allText(report.request.messages)).toContain('result of calc');
    expect(allText(facts.request.messages)).not.toContain('result of');

    const synth = caller.callsTo('synth')[0]!;
    expect(synth.kind).toBe('stream');
    expect(synth.startedAt).toBeGreaterThanOrEqual(report.endedAt!);
    for (const r of ['result of facts', 'result of calc', 'result of report']) expect(allText(synth.request.messages)).toContain(r);
    expect(allText(synth.request.messages)).toContain('Write a report on X');

    const { steps, summary } = traceOf(evs);
    expect(steps.map((s) => s.stage)).toEqual(['plan', 'subtask:facts', 'subtask:calc', 'subtask:report', 'synthesize']);
    expect(steps[0]!.detail).toMatchObject({ valid: true, tasks: ['facts', 'calc', 'report'] });
    expect(summary).toMatchObject({ succeeded: 3, calls: 5 });
    expect(usageOf(evs)).toEqual({ inputTokens: 50, outputTokens: 25 });
  });

  it.each([
    ['a cyclic plan', plan([{ id: 'a', task: 'x', depends_on: ['b'] }, { id: 'b', task: 'y', depends_on: ['a'] }]), 'cycle'],
    ['a dangling dependency', plan([{ id: 'a', task: 'x', depends_on: ['ghost'] }]), "unknown task 'ghost'"],
    ['duplicate ids', plan([{ id: 'a', task: 'x' }, { id: 'a', task: 'y' }]), "duplicate task id 'a'"],
    ['malformed JSON', 'Here is my plan: first, research; then write.', 'not valid JSON'],
    ['an empty plan', '{"tasks": []}', 'no tasks'],
  ])('rejects %s clearly, before any worker runs', async (_name, text, problem) => {
    const caller = new FakeCaller({ planner: text, writer: 'w', coder: 'c', synth: 's' });
    const err = await failure(events(decompose({}, caller), ask('?')));
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ kind: 'upstream', status: 502, code: 'invalid_plan' });
    expect(err.message).toContain("Virtual model 'd': planner 'planner' returned an invalid plan");
    expect(err.message).toContain(problem);
    expect(caller.calls.map((c) => c.model)).toEqual(['planner']);
  });

  it('a plan larger than maxCalls allows is rejected before any worker runs', async () => {
    const caller = new FakeCaller({ planner: plan([1, 2, 3].map((i) => ({ id: `t${i}`, task: 'x' }))), writer: 'w', synth: 's' });
    const err = await failure(events(decompose({ maxCalls: 4 }, caller), ask('?')));
    expect(err.message).toContain('3 tasks, more than the 2 allowed');
    expect(caller.calls).toHaveLength(1);
  });

  it('a cost ceiling stops the plan before any worker runs', async () => {
    const caller = new FakeCaller(
      { planner: plan([1, 2, 3].map((i) => ({ id: `t${i}`, task: 'x' }))), writer: 'w', synth: 's' },
      { prices: { planner: 0.01, writer: 0.02, synth: 0.02 } },
    );
    const err = await failure(events(decompose({ maxCostUsd: 0.06 }, caller), ask('?')));
    expect(err.code).toBe('ceiling_exceeded');
    expect(err.message).toContain("the plan's 3 sub-task(s) and the synthesis may cost up to $0.0900");
    expect(caller.calls.map((c) => c.model)).toEqual(['planner']);
  });

  it('a failed sub-task skips its dependents and fails the request by default; a lower quorum lets the synthesizer go on', async () => {
    const script = {
      planner: plan([
        { id: 'a', task: 'A', skill: 'code' },
        { id: 'b', task: 'B', skill: 'writing' },
        { id: 'c', task: 'C', depends_on: ['a'] },
      ]),
      coder: new HubError('upstream', 'coder crashed'),
      writer: 'fine',
      synth: 'final',
    };
    const strict = new FakeCaller(script);
    const err = await failure(events(decompose({}, strict), ask('?')));
    expect(err.message).toContain('only 1 of 3 sub-tasks succeeded; the quorum is 3');
    expect(err.message).toContain("sub-task 'a' (coder): coder crashed");
    expect(err.message).toContain("sub-task 'c': not run: dependency 'a' failed");
    expect(strict.calls.map((c) => c.model)).toEqual(['planner', 'coder', 'writer']);

    const lenient = new FakeCaller(script);
    const evs = await events(decompose({ quorum: 1 }, lenient), ask('?'));
    expect(textOf(evs)).toBe('final');
    const synth = allText(lenient.callsTo('synth')[0]!.request.messages);
    expect(synth).toContain('(this sub-task failed: coder crashed)');
    expect(synth).toContain('fine');
    expect(traceOf(evs).summary!.tasks).toEqual([
      { id: 'a', skill: 'code', worker: 'coder', dependsOn: [], ok: false },
      { id: 'b', skill: 'writing', worker: 'writer', dependsOn: [], ok: true },
      { id: 'c', worker: 'writer', dependsOn: ['a'], ok: false },
    ]);
  });

  it('a planner failure is one clear error', async () => {
    const caller = new FakeCaller({ planner: new HubError('rate_limited', 'slow down', { retryAfter: 3 }) });
    const err = await failure(events(decompose({}, caller), ask('?')));
    expect(err).toMatchObject({ kind: 'rate_limited', retryAfter: 3 });
    expect(err.message).toBe("Virtual model 'd': planner 'planner' failed: slow down");
  });
});
