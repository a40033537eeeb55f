/**
 * Peak RSS of a fresh hub through sustained c=32 load, on its own (no proxy, no other phases):
 *
 *   npx tsx bench/memory-peak.ts [--seconds 60] [--mode whole|stream|both] [--node-arg FLAG]…
 *
 * Prints one JSON line per run. `--node-arg` passes a Node flag to the hub (to try V8 settings
 * or take heap snapshots); `--env K=V` sets hub environment.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHub } from './hub.js';
import { sustained, sustainedBody } from './memory.js';
import { killAll, spawnWithPort, stop } from './procs.js';
import { luaScript, requireWrk } from './wrk.js';

const { values } = parseArgs({ options: {
  seconds: { type: 'string' }, mode: { type: 'string' }, 'node-arg': { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
} });
const BENCH = new URL('.', import.meta.url).pathname;

async function main(): Promise<void> {
  requireWrk();
  const seconds = Number(values.seconds ?? 60);
  const modes = values.mode === 'whole' ? ['whole'] as const : values.mode === 'stream' ? ['stream'] as const : ['whole', 'stream'] as const;
  const upstream = await spawnWithPort(['--import', 'tsx', join(BENCH, 'upstream.ts'), '--chunks', '20', '--gap', '10']);
  const env = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  for (const mode of modes) {
    const hub = await startHub(upstream.port, { nodeArgs: values['node-arg'] ?? [], env });
    mkdirSync(join(hub.dir, 'wrk'));
    const script = luaScript(join(hub.dir, 'wrk'), mode, sustainedBody(mode), hub.key);
    const r = await sustained(mode, `${hub.url}/v1/chat/completions`, script, hub.pid, upstream.child.pid!, seconds);
    process.stdout.write(`${JSON.stringify({ ...r, pid: hub.pid, dir: hub.dir })}\n`);
    await stop(hub.child);
  }
}

main().then(() => { killAll(); process.exit(0); }, (err: unknown) => { process.stderr.write(`${(err as Error).stack}\n`); killAll(); process.exit(1); });
