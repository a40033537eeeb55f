/**
 * The real Codex CLI (`@openai/codex`, `codex exec`) completes a task that needs shell tool calls
 * through the hub's OpenAI Responses API (a `model_providers` entry with `wire_api = "responses"`),
 * with the model behind a loopback OpenAI-compatible upstream scripted to make those calls.
 * Skipped, with the reason printed, when the CLI is not installed.
 */
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { locateCodex, skipReason } from './agent-binaries.js';
import { describeExchanges, startRecordingProxy } from './recording-proxy.js';
import type { RecordingProxy } from './recording-proxy.js';
import { baseEnv, runAgent } from './run-agent.js';
import { startScriptedUpstream, toolNames, toolResults } from './scripted-upstream.js';
import type { ChatBody, ScriptedReply, ScriptedUpstream } from './scripted-upstream.js';

const codex = locateCodex();
const skip = skipReason('Codex CLI', codex);
const TIMEOUT_MS = 120_000;
const MODEL = 'scripted/coder';
const SHELL_TOOL = 'exec_command';

let upstream: ScriptedUpstream;
let hub: TestHub;
let proxy: RecordingProxy;
let secret: string;
let keyId: string;
const dirs: string[] = [];

/** What Codex's shell tool returned: the text after its `Output:` header (the whole text if none). */
function shellOutput(text: string): string {
  const m = /Output:\n([\s\S]*)$/.exec(text);
  return (m ? m[1]! : text).trim();
}

/**
 * The "model": write greet.sh with the shell, run it into result.txt, then finish with
 * `DONE: <what the script printed>`. Requests without Codex's shell tool get a short text.
 */
function script(body: ChatBody): ScriptedReply {
  if (!toolNames(body).includes(SHELL_TOOL)) return { text: 'Baimo agent test' };
  const results = toolResults(body);
  switch (results.length) {
    case 0:
      return { toolCalls: [{ name: SHELL_TOOL, arguments: { cmd: "printf 'echo baimo-ok-$((6*7))\\n' > greet.sh" } }] };
    case 1:
      return { toolCalls: [{ name: SHELL_TOOL, arguments: { cmd: 'sh greet.sh > result.txt && cat result.txt' } }] };
    default:
      return { text: `DONE: ${shellOutput(results.at(-1)!.text)}` };
  }
}

function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  if (skip) return;
  upstream = await startScriptedUpstream(script);
  hub = await startTestHub(`providers:\n  scripted:\n    type: openai\n    baseURL: ${upstream.baseURL}\n    apiKey: sk-upstream-test\n`, {
    BAIMO_AUTH: 'required',
    BAIMO_ADMIN_KEY: 'sk-admin-agents-test-0123456789',
  });
  ({ secret, key: { id: keyId } } = await hub.tenancy.createKey({ name: 'codex' }));
  proxy = await startRecordingProxy(hub.url);
});

afterAll(async () => {
  await proxy?.close();
  await hub?.dispose();
  await upstream?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs `codex exec` on the task in a fresh working directory and CODEX_HOME; checks the whole flow. */
async function completesTask(extraArgs: string[]): Promise<void> {
  if (!codex.ok) throw new Error(`Codex CLI not runnable: ${codex.reason}`);
  const work = tempDir('baimo-codex-work-');
  const home = tempDir('baimo-codex-home-');
  const codexHome = join(home, '.codex');
  mkdirSync(codexHome);
  writeFileSync(
    join(codexHome, 'config.toml'),
    [
      `model = "${MODEL}"`,
      'model_provider = "baimo"',
      'check_for_update_on_startup = false',
      '[analytics]',
      'enabled = false',
      '[feedback]',
      'enabled = false',
      '[model_providers.baimo]',
      'name = "Baimo"',
      `base_url = "${proxy.url}/v1"`,
      'env_key = "BAIMO_API_KEY"',
      'wire_api = "responses"',
      '',
    ].join('\n'),
  );
  const exchangesBefore = proxy.exchanges.length;
  const upstreamBefore = upstream.requests.length;

  const run = await runAgent(
    codex.path,
    [
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '--ephemeral',
      '-C',
      work,
      ...extraArgs,
      'Create greet.sh that prints baimo-ok-42, then run it into result.txt.',
    ],
    { cwd: work, timeoutMs: TIMEOUT_MS, env: { ...baseEnv(home), CODEX_HOME: codexHome, BAIMO_API_KEY: secret } },
  );
  const exchanges = proxy.exchanges.slice(exchangesBefore);
  const upstreamCalls = upstream.requests.slice(upstreamBefore).filter((r) => r.reply);
  const context = [
    `exit ${run.code} signal ${run.signal}${run.timedOut ? ` (killed after ${TIMEOUT_MS} ms)` : ''} in ${run.ms} ms`,
    `stdout: ${run.stdout.slice(0, 4000)}`,
    `stderr: ${run.stderr.slice(-2000)}`,
    `requests to the hub:\n${describeExchanges(exchanges)}`,
    `answers the scripted upstream gave: ${upstreamCalls.map((r) => JSON.stringify(r.reply)).join('\n')}`,
  ].join('\n');

  // Every request Codex made went to the hub's Responses API and succeeded.
  expect(exchanges.length, context).toBeGreaterThan(0);
  for (const e of exchanges) {
    expect(`${e.method} ${e.url.split('?')[0]}`, context).toBe('POST /v1/responses');
    expect(e.status, context).toBe(200);
  }
  expect(run.timedOut, context).toBe(false);
  expect(run.code, context).toBe(0);

  // The side effects of the two shell calls.
  expect(readFileSync(join(work, 'greet.sh'), 'utf8'), context).toBe('echo baimo-ok-$((6*7))\n');
  expect(readFileSync(join(work, 'result.txt'), 'utf8'), context).toBe('baimo-ok-42\n');

  // The CLI's own event stream: two successful commands, the final message, a completed turn.
  const events = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const commands = events.filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution').map((e) => e.item);
  expect(commands.map((c) => c.exit_code), context).toEqual([0, 0]);
  expect(commands[1].aggregated_output).toBe('baimo-ok-42\n');
  const messages = events.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').map((e) => e.item.text);
  expect(messages, context).toEqual(['DONE: baimo-ok-42']);
  expect(events.some((e) => e.type === 'turn.completed'), context).toBe(true);
  expect(events.filter((e) => e.type === 'turn.failed' || e.type === 'error'), context).toEqual([]);

  // Three Responses requests (task, after call 1, after call 2), each with Codex's shell tool;
  // the tool results came back as function_call_output items and reached the upstream.
  expect(exchanges).toHaveLength(3);
  for (const e of exchanges) {
    expect(e.body).toMatchObject({ model: MODEL, stream: true });
    expect(e.body.tools.some((t: any) => t.type === 'function' && t.name === SHELL_TOOL)).toBe(true);
  }
  expect(exchanges[2]!.body.input.filter((i: any) => i.type === 'function_call_output')).toHaveLength(2);
  expect(upstreamCalls).toHaveLength(3);
  expect(toolResults(upstreamCalls[2]!.body).map((r) => [r.name, shellOutput(r.text)])).toEqual([
    [SHELL_TOOL, ''],
    [SHELL_TOOL, 'baimo-ok-42'],
  ]);

  // The hub recorded each upstream call under Codex's key with the upstream's usage.
  const rows = () => hub.store.recentUsage(200).filter((u) => u.key_id === keyId && u.endpoint === 'chat').slice(0, upstreamCalls.length);
  await expect.poll(() => rows().filter((u) => u.status === 200).length, { timeout: 5000 }).toBe(upstreamCalls.length);
  for (const row of rows()) expect(row).toMatchObject({ model: MODEL, provider: 'scripted', status: 200, stream: 1 });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  expect(sum(rows().map((u) => u.input_tokens ?? 0))).toBe(sum(upstreamCalls.map((r) => r.usage!.prompt_tokens)));
  expect(sum(rows().map((u) => u.output_tokens ?? 0))).toBe(sum(upstreamCalls.map((r) => r.usage!.completion_tokens)));
  console.info(`[test/agents] Codex ${codex.ok ? codex.version : ''} ${extraArgs.join(' ') || '(default tools)'}: ${run.ms} ms`);
}

const version = codex.ok ? codex.version : codex.reason;

describe('Codex CLI through the hub', () => {
  // Codex's default tool list holds more than function tools: a `namespace` tool (its sub-agent
  // tools, multi_agent_v1) and the hosted `web_search` tool. The hub must accept that request for
  // a model behind an OpenAI-compatible upstream.
  it.skipIf(skip)(`writes and runs a script via shell tool calls, default tools (${version})`, () => completesTask([]), TIMEOUT_MS + 30_000);

  // The same task with only function tools offered (sub-agents and web search turned off).
  it.skipIf(skip)(
    `writes and runs a script via shell tool calls, function tools only (${version})`,
    () => completesTask(['-c', 'agents.enabled=false', '-c', 'web_search="disabled"']),
    TIMEOUT_MS + 30_000,
  );
});
