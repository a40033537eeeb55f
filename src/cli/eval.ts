/**
 * `baimo eval …`: the commands, their help and their exit codes. `run` and `trust`
 * (cli/eval-run.ts) are imported when asked for, as they load the gateway; `compare` reads two
 * JSON files and loads nothing else. Exit codes: 0 success (threshold met, no regression), 1
 * missed, stopped at the ceiling or a regression, 2 usage and suite errors, 130 cancelled.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CompareError, compareReports, comparisonText } from '../eval/compare.js';
import { PERSPECTIVES } from '../eval/trust/perspectives.js';
import { SuiteError } from '../eval/types.js';
import { ResumeError, UsageError } from './eval-resume.js';

export const EVAL_HELP = `Usage:
  baimo eval run SUITE.yaml [-o OUT.json|OUT.xml|OUT.html] [--repeat N] [--concurrency C]
                 [--no-cache] [--max-cost USD] [--resume FILE]
                 [--config FILE] [--data-dir DIR] [--api-key KEY]      in this process, recorded in DATA_DIR
                 [--base-url URL --api-key KEY]                      against a running hub
  baimo eval trust MODEL… [--perspective NAME…] [--limit N] [--grader MODEL] [-o OUT.json]
                 [--concurrency C] [--no-cache] [--max-cost USD] [--resume FILE]
                 [and the hub flags above]
                 the shipped trust suites: ${PERSPECTIVES.join(', ')}
                 --perspective repeats or takes a comma list; --limit N: at most N cases per
                 perspective, the two languages alternately; --grader: the model grading
                 toxicity's rubric (default: the first MODEL)
  --max-cost is the whole run's ceiling (a resumed run counts what its first part spent).
  --resume FILE: go on with a run that was cancelled, stopped at --max-cost or killed; the file
                 (DATA_DIR/eval-runs/<run id>.resume.jsonl, named when the run starts) is written
                 as cells finish and removed when the run completes; finished cells are not asked
                 or charged again.
  Exit: 0 threshold met (trust: all ran) · 1 missed or stopped at --max-cost · 2 usage or suite error · 130 cancelled
  baimo eval compare A.json B.json [--json]
                 two runs' JSON outputs case by case (provider + prompt + vars): regressions first
  Exit: 0 no regression · 1 any case passed in A and failed in B · 2 usage error
`;

/** `baimo eval compare A.json B.json`: exit 1 when any case regressed. */
function compareCommand(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 2) throw new UsageError('give exactly two JSON outputs of baimo eval run: A (before) and B (after)');
  const [a, b] = positionals.map((file) => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (err) {
      throw new UsageError(`${file}: ${(err as { code?: string }).code === 'ENOENT' ? 'file not found' : 'not a JSON file'}`);
    }
  });
  let c;
  try {
    c = compareReports(a, b);
  } catch (err) {
    if (err instanceof CompareError) throw new UsageError(err.message);
    throw err;
  }
  process.stdout.write(values.json ? `${JSON.stringify(c, null, 2)}\n` : comparisonText(c));
  return c.summary.regressions > 0 ? 1 : 0;
}

/** `baimo eval …`; returns the exit code. Suite and usage errors are reported here (exit 2). */
export async function evalCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'run') return await (await import('./eval-run.js')).runCommand(rest);
    if (sub === 'compare') return compareCommand(rest);
    if (sub === 'trust') return await (await import('./eval-run.js')).trustCommand(rest);
    if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
      process.stdout.write(EVAL_HELP);
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown eval command '${sub}'`);
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ResumeError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (usage) {
      process.stderr.write(`error: ${(err as Error).message}\n\n${EVAL_HELP}`);
      return 2;
    }
    if (err instanceof SuiteError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
