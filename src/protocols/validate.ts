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

/** Parses a JSON body; never echoes the body back, since it may hold secrets. */
export function parseJSONBody(raw: string): unknown {
  if (raw.length === 0) throw new HubError('bad_request', 'Request body is empty; expected a JSON object.', { code: 'invalid_json' });
  try {
    return JSON.parse(raw);
  } catch (err) {
    const pos = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new HubError('bad_request', `Request body is not valid JSON${pos ? ` (error at position ${pos})` : ''}.`, {
      code: 'invalid_json',
    });
  }
}
