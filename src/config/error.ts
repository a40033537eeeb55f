import type { InterpolationProblem } from './interpolate.js';

/**
 * A config that cannot be used. The message names every bad key path and what was expected.
 * A module of its own, so that what only reports it (settings.ts, the CLI's hub client) does
 * not load the YAML parser and the schema with it.
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string | undefined,
    readonly problems: readonly InterpolationProblem[],
  ) {
    super(
      `Invalid config${file ? ` in ${file}` : ''}:\n` + problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}
