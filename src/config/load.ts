import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYAML, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { issuePath } from '../core/issue-path.js';
import { interpolate } from './interpolate.js';
import type { InterpolationProblem } from './interpolate.js';
import { configSchema } from './schema.js';
import type { ConfigFile } from './schema.js';
import { ConfigError } from './error.js';

export { ConfigError } from './error.js';

function describe(issue: z.core.$ZodIssue): InterpolationProblem {
  if (issue.code === 'unrecognized_keys') {
    return { path: issuePath(issue.path) || '(root)', message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}` };
  }
  return { path: issuePath(issue.path) || '(root)', message: issue.message.replace(/^Invalid input: /, '') };
}

/** Validates a parsed config document (after env interpolation). */
export function validateConfig(doc: unknown, env: Readonly<Record<string, string | undefined>>, file?: string): ConfigFile {
  const problems: InterpolationProblem[] = [];
  const interpolated = interpolate(doc ?? {}, env, problems);
  const result = configSchema.safeParse(interpolated);
  if (!result.success) problems.push(...result.error.issues.map(describe));
  if (problems.length > 0 || !result.success) throw new ConfigError(file, problems);
  return result.data;
}

/**
 * Reads the config file: the given path (which must exist), else ./baimo.yaml if present,
 * else an empty config — zero config is a supported way to run.
 */
export function loadConfigFile(
  path: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { config: ConfigFile; file: string | undefined } {
  let file = path ? resolve(path) : undefined;
  if (!file && existsSync('baimo.yaml')) file = resolve('baimo.yaml');
  if (!file) return { config: validateConfig({}, env), file: undefined };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError(file, [{ path: '(file)', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? 'error'})` }]);
  }
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '(file)';
    const what = err instanceof YAMLParseError ? err.code.toLowerCase().replace(/_/g, ' ') : 'not valid YAML';
    throw new ConfigError(file, [{ path: where, message: `YAML syntax error: ${what}` }]);
  }
  return { config: validateConfig(doc, env, file), file };
}
