/**
 * `${VAR}` and `${VAR:-default}` in string values, resolved against an environment. Problems are
 * reported by key path and variable name, never by value, so secrets stay out of messages.
 */
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface InterpolationProblem {
  readonly path: string;
  readonly message: string;
}

export function interpolate(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  problems: InterpolationProblem[],
  path = '',
): unknown {
  if (typeof value === 'string') {
    return value.replace(REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push({ path: path || '(root)', message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, problems, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, problems, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}
