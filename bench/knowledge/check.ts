/**
 * Validates the benchmark's data (`npx tsx bench/knowledge/check.ts`): counts, sizes, and every
 * judged quote present verbatim in its file. Exits 1 with the problems listed.
 */
import { loadCorpus, loadQueries, validateDataset } from './dataset.js';

const report = validateDataset(loadCorpus(), loadQueries());
const { docs, queries } = report;
process.stdout.write(
  `documents: ${docs.total} (zh ${docs.zh}, en ${docs.en})\n` +
    `queries: ${queries.total} (zh ${queries.zh}, en ${queries.en}); ` +
    Object.entries(queries.byKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') +
    '\n',
);
if (report.problems.length) {
  process.stderr.write(`${report.problems.length} problem(s):\n${report.problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('ok\n');
