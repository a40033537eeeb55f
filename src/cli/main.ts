#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import type { Message } from '../core/types.js';
import type { Registry } from '../routing/registry.js';

/*
 * Only Node's own modules are loaded up front: each command imports what it needs when it runs
 * (`import()`), so `baimo --help`, `baimo kb …` and `baimo eval compare` do not load the gateway,
 * the providers, the stores and the server that `serve` and `chat` need.
 */

const HELP = `baimo — one API for a hundred models

Usage:
  baimo serve [--port N] [--host H] [--config FILE] [--data-dir DIR] [--workers N]
                                       --workers N: N processes share the port (default 1), to use
                                       N cores; requires BAIMO_DATABASE_URL (the shared store); each
                                       keeps its usage journal in DATA_DIR/worker-<i>
  baimo models [--config FILE]
  baimo chat -m MODEL [--system TEXT] [--config FILE] [--data-dir DIR] [--api-key KEY] "prompt"
                                       (prompt from stdin if omitted; recorded in the data directory,
                                        which a running hub must not hold: see the README; on the
                                        shared store, recorded in PostgreSQL like a replica's calls)
  baimo eval run SUITE.yaml [-o OUT.json|.xml|.html] [--repeat N] [--concurrency C] [--no-cache]
                 [--max-cost USD] [--resume FILE] [--base-url URL --api-key KEY]
                                       run an evaluation suite (promptfoo-shaped YAML) through the
                                       gateway, recorded like baimo chat; exit 1 when its pass
                                       threshold is missed, 2 on a bad suite (baimo eval help)
  baimo eval trust MODEL… [--perspective NAME…] [--limit N] [--grader MODEL] [-o OUT.json]
                                       the shipped trust suites (jailbreak … hallucination): score,
                                       refusal rate and cost per model and perspective
  baimo kb create NAME | add STORE FILES… | ls | search STORE QUERY   [--base-url URL --api-key KEY]
                                       knowledge bases (vector stores) on a running hub: upload and
                                       ingest files with progress, search them (baimo kb help)
  baimo migrate [--database-url URL]   apply the PostgreSQL schema migrations
  baimo migrate --from sqlite DATA_DIR [--database-url URL]
                                       copy an embedded hub's data into PostgreSQL (safe to repeat)

Environment:
  BAIMO_PORT, BAIMO_HOST, BAIMO_CONFIG, BAIMO_DATA_DIR,
  BAIMO_WORKERS                                          same as the flags
  BAIMO_API_KEY                                          the key baimo chat calls as (default: the admin),
                                                         and baimo kb's key
  BAIMO_URL                                              the hub baimo kb drives (default http://127.0.0.1:4000)
  BAIMO_DATABASE_URL                                     the shared store (PostgreSQL): replicas, --workers;
                                                         the database baimo migrate uses
  BAIMO_REDIS_URL                                        shared limits and change notifications (with the above)
  BAIMO_AUTH, BAIMO_METRICS_AUTH (required|none), BAIMO_MAX_CONNECTIONS,
  BAIMO_HEADERS_TIMEOUT_MS, BAIMO_REQUEST_TIMEOUT_MS      see the README's Configuration
  OPENAI_API_KEY, DEEPSEEK_API_KEY, DASHSCOPE_API_KEY, …  enable a provider preset (see README)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The hub's live heap is small (about 25 MB, flat under load), but under load most objects that
 * survive a young-generation collection are promoted and die in the old generation, about 17 MB/s
 * at 2,000–2,500 requests/s. With the default heap limit V8 lets the old generation grow to up
 * to 4× what was live after the last full collection before collecting again (~100 MB against
 * 24 MB), which put the peak RSS near 250 MB (see docs/performance.md, "Where the memory goes").
 * Fixed at 2×, a full collection of the small live heap (3–17 ms of the main thread) runs about
 * once a second under load. Set when the hub starts, before the heap has grown, unless the
 * operator chose a value (NODE_OPTIONS or a node flag), which then wins.
 */
const HEAP_GROWING_PERCENT = 100;

function tuneHeap(): void {
  const chosen = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /heap[-_]growing[-_]percent/.test(a));
  if (!chosen) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

async function serve(args: string[]): Promise<void> {
  tuneHeap();
  const [{ startHub }, { isWorkerProcess, serveWorker, serveWorkers, workerCount, WorkersError }, { startBanner }] = await Promise.all([
    import('../server/start.js'),
    import('../server/workers.js'),
    import('./banner.js'),
  ]);
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      workers: { type: 'string', short: 'w' },
    },
  });
  const flags = { port: values.port, host: values.host, config: values.config, dataDir: values['data-dir'] };
  // A worker forked by `--workers N` runs this same command line: it serves, the primary prints.
  if (isWorkerProcess()) return serveWorker(flags, (hub) => startBanner(hub, version()));
  try {
    const count = workerCount(values.workers ?? process.env.BAIMO_WORKERS, values.workers !== undefined ? '--workers' : 'BAIMO_WORKERS');
    if (count > 1) return await serveWorkers(count, flags);
  } catch (err) {
    if (!(err instanceof WorkersError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  // One process (the default): the hub in this process, exactly as before --workers existed.
  const hub = await startHub(flags);
  const out = process.stdout;
  out.write(startBanner(hub, version()));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out.write(`${signal}: finishing in-flight requests and saving usage records…\n`);
    hub.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function registryFor(configPath: string | undefined): Promise<Registry> {
  const [{ loadConfigFile }, { assemble }] = await Promise.all([import('../config/load.js'), import('../server/assemble.js')]);
  const env = process.env;
  const { config } = loadConfigFile(configPath ?? env.BAIMO_CONFIG, env);
  return (await assemble(config, env)).registry;
}

async function models(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const registry = await registryFor(values.config);
  const list = registry.list();
  if (list.length === 0) {
    process.stdout.write('No models: no provider is enabled. Set a key such as DEEPSEEK_API_KEY, or write baimo.yaml.\n');
    return;
  }
  const width = Math.max(...list.map((m) => m.id.length));
  for (const m of list) process.stdout.write(`${m.id.padEnd(width)}  ${m.ownedBy}${m.kind === 'embedding' ? '  (embedding)' : ''}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function chat(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      system: { type: 'string', short: 's' },
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      'api-key': { type: 'string' },
    },
  });
  const { HubError } = await import('../core/errors.js');
  if (!values.model) throw new HubError('bad_request', 'missing -m MODEL (see `baimo models`)');
  const prompt = positionals.length ? positionals.join(' ') : (await readStdin()).trim();
  if (!prompt) throw new HubError('bad_request', 'missing prompt');
  const [{ Cancel }, { timeOrderedId }, { call }, { callContext }, { openLocalGateway }] = await Promise.all([
    import('../core/cancel.js'),
    import('../core/ids.js'),
    import('../gateway/call.js'),
    import('../gateway/context.js'),
    import('./local.js'),
  ]);
  const env = process.env;
  // The call goes through the gateway, as the hub's own calls do: admitted (as the admin, or
  // the key given), routed, and recorded with its usage and cost in the data directory.
  const local = await openLocalGateway({ config: values.config, dataDir: values['data-dir'], env });
  try {
    const principal = local.principal(values['api-key'] ?? env.BAIMO_API_KEY);
    const messages: Message[] = [
      ...(values.system ? [{ role: 'system' as const, content: values.system }] : []),
      { role: 'user', content: [{ type: 'text', text: prompt }] },
    ];
    const cancel = new Cancel();
    process.once('SIGINT', () => cancel.abort());
    const dim = process.stderr.isTTY ? (s: string) => `\x1b[2m${s}\x1b[0m` : (s: string) => s;
    let lastWasReasoning = false;
    for await (const e of call(local.gateway, callContext(principal, timeOrderedId('req_'), cancel), values.model, { model: values.model, messages })) {
      if (e.type === 'reasoning') {
        process.stderr.write(dim(e.text));
        lastWasReasoning = true;
      } else if (e.type === 'text') {
        if (lastWasReasoning) process.stderr.write('\n');
        lastWasReasoning = false;
        process.stdout.write(e.text);
      } else if (e.type === 'tool_call' && e.name) {
        process.stdout.write(`\n[tool call: ${e.name}]`);
      } else if (e.type === 'usage') {
        const u = e.usage;
        process.stdout.write('\n');
        process.stderr.write(dim(`[${u.inputTokens} in, ${u.outputTokens} out${u.cachedInputTokens ? `, ${u.cachedInputTokens} cached` : ''}]\n`));
      }
    }
  } finally {
    await local.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'serve':
      return serve(rest);
    case 'models':
      return models(rest);
    case 'chat':
      return chat(rest);
    case 'eval':
      process.exitCode = await (await import('./eval.js')).evalCommand(rest);
      return;
    case 'kb':
      process.exitCode = await (await import('./kb.js')).kbCommand(rest);
      return;
    case 'migrate':
      process.exitCode = await (await import('./migrate.js')).migrateCommand(rest);
      return;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return;
    default:
      if (command.startsWith('-')) return serve(argv);
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
      process.exitCode = 2;
  }
}

/** The error as the user reads it: the known kinds in a line, anything else with its stack. */
async function report(err: unknown): Promise<void> {
  // These modules are loaded already when one of their errors was thrown; importing them here
  // keeps them off the start of every command.
  const [{ ConfigError }, { DataDirError }, { HubError }] = await Promise.all([import('../config/load.js'), import('../store/data-dir.js'), import('../core/errors.js')]);
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else if (err instanceof DataDirError) process.stderr.write(`error: ${err.message}\n`);
  else if (err instanceof HubError) process.stderr.write(`error: ${err.message}\n`);
  else if ((err as { code?: string }).code === 'EADDRINUSE') process.stderr.write(`error: ${(err as Error).message} — is another hub running? Use --port.\n`);
  else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) process.stderr.write(`error: ${(err as Error).message}\n\n${HELP}`);
  else process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
}

main(process.argv.slice(2)).catch(async (err: unknown) => {
  try {
    await report(err);
  } catch {
    process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
});
