/**
 * The decompose planner's plan: parsed and validated strictly. A plan is
 * `{"tasks":[{"id":"t1","task":"…","skill":"…","depends_on":["…"]}]}` (skill and depends_on
 * optional). Whole-answer JSON is preferred; a single ```json fenced block, or the outermost
 * {…} of the answer, is also read, since planners often wrap their JSON.
 */

export interface PlanTask {
  readonly id: string;
  readonly task: string;
  readonly skill?: string;
  readonly dependsOn: readonly string[];
}

export interface Plan {
  /** Tasks in plan order. */
  readonly tasks: readonly PlanTask[];
}

/** Thrown by parsePlan; `message` names the problem. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
}

function parseJson(text: string): unknown {
  const attempts = [text.trim()];
  const fence = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/i.exec(text);
  if (fence?.[1] !== undefined) attempts.push(fence[1]);
  const open = text.indexOf('{');
  const close = text.lastIndexOf('}');
  if (open >= 0 && close > open) attempts.push(text.slice(open, close + 1));
  for (const a of attempts) {
    try {
      return JSON.parse(a) as unknown;
    } catch {
      // next
    }
  }
  throw new PlanError('the plan is not valid JSON');
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Validates a plan. Rejected: malformed JSON, a missing or empty `tasks` array, a task without
 * a non-empty string `id` or `task`, a non-string `skill`, a `depends_on` that is not an array of
 * strings, duplicate ids, a dependency on an unknown id, a task depending on itself, a cycle, and
 * more than `maxTasks` tasks.
 */
export function parsePlan(text: string, maxTasks: number): Plan {
  const raw = parseJson(text);
  if (!isObject(raw) || !Array.isArray(raw.tasks)) throw new PlanError('expected an object with a "tasks" array');
  if (raw.tasks.length === 0) throw new PlanError('the plan has no tasks');
  if (raw.tasks.length > maxTasks) throw new PlanError(`the plan has ${raw.tasks.length} tasks, more than the ${maxTasks} allowed`);

  const tasks: PlanTask[] = [];
  const ids = new Set<string>();
  raw.tasks.forEach((t: unknown, i: number) => {
    if (!isObject(t)) throw new PlanError(`task ${i + 1} is not an object`);
    const id = typeof t.id === 'number' ? String(t.id) : t.id;
    if (typeof id !== 'string' || id.trim() === '') throw new PlanError(`task ${i + 1} has no id`);
    if (ids.has(id)) throw new PlanError(`duplicate task id '${id}'`);
    ids.add(id);
    if (typeof t.task !== 'string' || t.task.trim() === '') throw new PlanError(`task '${id}' has no "task" text`);
    if (t.skill !== undefined && t.skill !== null && typeof t.skill !== 'string') throw new PlanError(`task '${id}' has a non-string skill`);
    const deps = t.depends_on ?? [];
    if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string' || typeof d === 'number')) {
      throw new PlanError(`task '${id}' has a depends_on that is not a list of ids`);
    }
    tasks.push({
      id,
      task: t.task,
      ...(typeof t.skill === 'string' && t.skill !== '' && { skill: t.skill }),
      dependsOn: [...new Set(deps.map(String))],
    });
  });

  for (const t of tasks) {
    for (const d of t.dependsOn) {
      if (d === t.id) throw new PlanError(`task '${t.id}' depends on itself`);
      if (!ids.has(d)) throw new PlanError(`task '${t.id}' depends on unknown task '${d}'`);
    }
  }

  const cycle = findCycle(tasks);
  if (cycle) throw new PlanError(`the dependencies form a cycle: ${cycle.join(' → ')}`);
  return { tasks };
}

/** A dependency cycle as a list of ids (first repeated at the end), or undefined. */
function findCycle(tasks: readonly PlanTask[]): string[] | undefined {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const s = state.get(id);
    if (s === 'done') return undefined;
    if (s === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const d of byId.get(id)?.dependsOn ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const t of tasks) {
    const c = visit(t.id);
    if (c) return c;
  }
  return undefined;
}
