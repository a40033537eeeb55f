/**
 * Routing by evidence, measured on held-out cases (issue 20): reads the JSON output of
 * `baimo eval run` over a suite whose tests name their kind of request in a var, learns the route
 * table from about 70% of the cases and sends the other 30% where it says; prints the cost against
 * always using the best model and the quality kept. Anchor: RouteLLM cut cost by 85% on MT-Bench
 * keeping 95% of GPT-4's quality.
 *
 *   npx tsx bench/route-evidence.ts results.json [--kind-var kind] [--bar 0.9] [--test-share 0.3]
 *
 * The numbers are only as real as the run behind them: run the suite against real models first.
 */
import { readFileSync } from 'node:fs';
import { heldOut } from '../src/eval/evidence.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const file = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1]!.startsWith('--')));
if (!file) {
  console.error('usage: tsx bench/route-evidence.ts results.json [--kind-var kind] [--bar 0.9] [--test-share 0.3]');
  process.exit(2);
}
let r: ReturnType<typeof heldOut>;
try {
  r = heldOut(JSON.parse(readFileSync(file, 'utf8')), { kindVar: flag('--kind-var', 'kind'), bar: Number(flag('--bar', '0.9')), testShare: Number(flag('--test-share', '0.3')) });
} catch (err) {
  console.error(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
console.log(`| | model | pass rate | cost (USD, ${r.testCases} held-out cases) |`);
console.log('|---|---|---:|---:|');
console.log(`| always the best | ${r.best.model} | ${pct(r.best.passRate)} | ${r.best.costUsd.toFixed(6)} |`);
console.log(`| routed by evidence | ${Object.entries(r.routed.byModel).map(([m, n]) => `${m} ×${n}`).join(', ')} | ${pct(r.routed.passRate)} | ${r.routed.costUsd.toFixed(6)} |`);
console.log(`\ncost saved ${pct(r.costSaved)}, quality kept ${pct(r.qualityKept)} (learned from ${r.trainCases} cases; the kind of each held-out case is its label, so a classifier's mistakes are not counted)`);
