import type { z } from 'zod';
import { HubError } from '../core/errors.js';
import { issuePath } from '../core/issue-path.js';

/** The most specific issue: discriminated unions nest the useful one a level down. */
function deepest(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Prefer the branch that got furthest (the longest path) — it names the field at fault.
    let best: { path: PropertyKey[]; message: string } | undefined;
    for (const branch of issue.errors) {
      for (const inner of branch) {
        const d = deepest(inner);
        const full = { path: [...issue.path, ...d.path], message: d.message };
        if (!best || full.path.length > best.path.length) best = full;
      }
    }
    if (best && best.path.length > issue.path.length) return best;
  }
  if (issue.code === 'unrecognized_keys') return { path: [...issue.path], message: `unknown field ${issue.keys.join(', ')}` };
  return { path: [...issue.path], message: issue.message.replace(/^Invalid input: /, '') };
}

/** Validates a request body; a violation becomes a 400 naming the field. */
export function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = deepest(r.error.issues[0]!);
  const param = issuePath(issue.path);
  return raise(param, issue.message);
}

function raise(param: string, message: string): never {
  throw new HubError('bad_request', param ? `Invalid request: '${param}': ${message}` : `Invalid request: ${message}`, {
    ...(param && { param }),
    code: 'invalid_request',
  });
}

/**
 * The deepest nesting of arrays and objects a request body may have. Real requests nest far
 * less: a chat request with a tool whose JSON Schema nests objects ten deep is about 25 levels.
 * Without a bound, a small body nested thousands deep parses fine and then overflows the stack
 * of whatever walks it next (JSON.stringify on the way upstream, schema validation).
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether a parsed JSON value nests more than `levels` arrays/objects deep. It visits values, not
 * characters, and never recurses past `levels`: a few microseconds for a megabyte of prompt text
 * (a scan of the raw text for brackets outside strings cost as much as JSON.parse itself on
 * code-heavy prompts full of escaped quotes, and more than this walk on every body measured).
 */
export function nestsDeeperThan(value: object, levels: number): boolean {
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      if (typeof x === 'object' && x !== null && nestsDeeperThan(x, levels - 1)) return true;
    }
  } else {
    for (const k in value) {
      const x = (value as Record<string, unknown>)[k];
      if (typeof x === 'object' && x !== null && nestsDeeperThan(x, levels - 1)) return true;
    }
  }
  return false;
}

/** Parses a JSON body; never echoes the body back, since it may hold secrets. */
export function parseJSONBody(raw: string): unknown {
  if (raw.length === 0) throw new HubError('bad_request', 'Request body is empty; expected a JSON object.', { code: 'invalid_json' });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    const pos = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new HubError('bad_request', `Request body is not valid JSON${pos ? ` (error at position ${pos})` : ''}.`, {
      code: 'invalid_json',
    });
  }
  if (typeof json === 'object' && json !== null && nestsDeeperThan(json, MAX_JSON_DEPTH)) {
    throw new HubError('bad_request', `Request body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep.`, { code: 'invalid_json' });
  }
  return json;
}
