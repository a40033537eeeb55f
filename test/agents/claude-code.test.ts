/**
 * The real Claude Code CLI (`@anthropic-ai/claude-code`, run with `-p`) completes a task that
 * needs tool calls — write a file, run it with the shell, read the result — through the hub's
 * Anthropic Messages API, with the model behind a loopback OpenAI-compatible upstream scripted
 * to make those calls. Skipped, with the reason printed, when the CLI is not installed.
 */
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { locateClaudeCode, skipReason } from './agent-binaries.js';
import { describeExchanges, startRecordingProxy } from './recording-proxy.js';
import type { RecordingProxy } from './recording-proxy.js';
import { baseEnv, runAgent } from './run-agent.js';
import { startScriptedUpstream, toolNames, toolResults } from './scripted-upstream.js';
import type { ChatBody, ScriptedReply, ScriptedUpstream } from './scripted-upstream.js';

const claude = locateClaudeCode();
const skip = skipReason('Claude Code', claude);
const TIMEOUT_MS = 120_000;
const MODEL = 'scripted/coder';
const SMALL_MODEL = 'scripted/fast';

let upstream: ScriptedUpstream;
let hub: TestHub;
let proxy: RecordingProxy;
let secret: string;
let keyId: string;
let work: string;
let home: string;

/**
 * The "model": Write greet.sh, run it with Bash into result.txt, Read result.txt, then finish
 * with `DONE: <what the script printed>`. Requests without Claude Code's tools (a title or topic
 * request, should one be made) get a short text.
 */
function script(body: ChatBody): ScriptedReply {
  if (!toolNames(body).includes('Bash')) return { text: 'Baimo agent test' };
  const results = toolResults(body);
  switch (results.length) {
    case 0:
      return { toolCalls: [{ name: 'Write', arguments: { file_path: join(work, 'greet.sh'), content: 'echo baimo-ok-$((6*7))\n' } }] };
    case 1:
      return { toolCalls: [{ name: 'Bash', arguments: { command: 'sh greet.sh > result.txt && cat result.txt', description: 'Run the greeting script' } }] };
    case 2:
      return { toolCalls: [{ name: 'Read', arguments: { file_path: join(work, 'result.txt') } }] };
    default:
      return { text: `DONE: ${results.find((r) => r.name === 'Bash')?.text.trim() ?? '(no shell output)'}` };
  }
}

beforeAll(async () => {
  if (skip) return;
  upstream = await startScriptedUpstream(script);
  hub = await startTestHub(`providers:\n  scripted:\n    type: openai\n    baseURL: ${upstream.baseURL}\n    apiKey: sk-upstream-test\n`, {
    BAIMO_AUTH: 'required',
    BAIMO_ADMIN_KEY: 'sk-admin-agents-test-0123456789',
  });
  ({ secret, key: { id: keyId } } = await hub.tenancy.createKey({ name: 'claude-code' }));
  proxy = await startRecordingProxy(hub.url);
  work = realpathSync(mkdtempSync(join(tmpdir(), 'baimo-claude-work-')));
  home = realpathSync(mkdtempSync(join(tmpdir(), 'baimo-claude-home-')));
});

afterAll(async () => {
  await proxy?.close();
  await hub?.dispose();
  await upstream?.close();
  for (const dir of [work, home]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Claude Code CLI through the hub', () => {
  it.skipIf(skip)(
    `writes, runs and reads a file via tool calls (${claude.ok ? claude.version : claude.reason})`,
    async () => {
      if (!claude.ok) throw new Error(`Claude Code not runnable: ${claude.reason}`);
      const run = await runAgent(
        claude.path,
        ['-p', 'Create greet.sh that prints baimo-ok-42, run it into result.txt, and read result.txt back.', '--output-format', 'json', '--allowedTools', 'Bash,Write,Read'],
        {
          cwd: work,
          timeoutMs: TIMEOUT_MS,
          env: {
            ...baseEnv(home),
            ANTHROPIC_BASE_URL: proxy.url,
            ANTHROPIC_API_KEY: secret,
            ANTHROPIC_MODEL: MODEL,
            ANTHROPIC_SMALL_FAST_MODEL: SMALL_MODEL,
            ANTHROPIC_DEFAULT_HAIKU_MODEL: SMALL_MODEL,
            ANTHROPIC_DEFAULT_SONNET_MODEL: MODEL,
            ANTHROPIC_DEFAULT_OPUS_MODEL: MODEL,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
            DISABLE_AUTOUPDATER: '1',
            DISABLE_TELEMETRY: '1',
            DISABLE_ERROR_REPORTING: '1',
          },
        },
      );
      const context = [
        `exit ${run.code} signal ${run.signal}${run.timedOut ? ` (killed after ${TIMEOUT_MS} ms)` : ''} in ${run.ms} ms`,
        `stdout: ${run.stdout.slice(0, 3000)}`,
        `stderr: ${run.stderr.slice(-3000)}`,
        `requests to the hub:\n${describeExchanges(proxy.exchanges)}`,
        `answers scripted upstream gave: ${upstream.requests.map((r) => JSON.stringify(r.reply)).join('\n')}`,
      ].join('\n');

      expect(run.timedOut, context).toBe(false);
      expect(run.code, context).toBe(0);

      // The side effects of the three tool calls.
      expect(readFileSync(join(work, 'greet.sh'), 'utf8'), context).toBe('echo baimo-ok-$((6*7))\n');
      expect(existsSync(join(work, 'result.txt')), context).toBe(true);
      expect(readFileSync(join(work, 'result.txt'), 'utf8')).toBe('baimo-ok-42\n');

      // The CLI's own verdict.
      const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
      expect(result, context).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'DONE: baimo-ok-42' });

      // Every request Claude Code made went to the Anthropic API of the hub and succeeded.
      expect(proxy.exchanges.length, context).toBeGreaterThan(0);
      for (const e of proxy.exchanges) {
        expect(`${e.method} ${e.url.split('?')[0]}`, context).toMatch(/^POST \/v1\/messages(\/count_tokens)?$/);
        expect(e.status, context).toBe(200);
      }
      const turns = proxy.exchanges.filter((e) => e.url.split('?')[0] === '/v1/messages' && Array.isArray(e.body?.tools) && e.body.tools.length > 0);
      expect(turns.length, context).toBe(4);
      for (const t of turns) expect(t.body.model).toBe(MODEL);
      expect(turns.map((t) => t.body.stream)).toEqual([true, true, true, true]);

      // The upstream saw Claude Code's tools as function tools, and every tool result came back.
      const agentTurns = upstream.requests.filter((r) => r.reply && toolNames(r.body).includes('Bash'));
      expect(agentTurns).toHaveLength(4);
      expect(toolNames(agentTurns[0]!.body)).toEqual(expect.arrayContaining(['Bash', 'Read', 'Write']));
      const finalResults = toolResults(agentTurns[3]!.body);
      expect(finalResults.map((r) => r.name)).toEqual(['Write', 'Bash', 'Read']);
      expect(finalResults[1]!.text.trim()).toBe('baimo-ok-42');
      expect(finalResults[2]!.text).toContain('baimo-ok-42');

      // The hub recorded every upstream call under the key Claude Code used, with the upstream's usage.
      const chatCalls = upstream.requests.filter((r) => r.reply);
      const rows = () => hub.store.recentUsage(200).filter((u) => u.key_id === keyId && u.endpoint === 'chat');
      await expect.poll(() => rows().length, { timeout: 5000 }).toBe(chatCalls.length);
      for (const row of rows()) expect(row).toMatchObject({ status: 200, provider: 'scripted', stream: 1 });
      expect(rows().filter((u) => u.model === MODEL)).toHaveLength(4);
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      expect(sum(rows().map((u) => u.input_tokens ?? 0))).toBe(sum(chatCalls.map((r) => r.usage!.prompt_tokens)));
      expect(sum(rows().map((u) => u.output_tokens ?? 0))).toBe(sum(chatCalls.map((r) => r.usage!.completion_tokens)));
      console.info(`[test/agents] Claude Code ${claude.version}: ${run.ms} ms, ${proxy.exchanges.length} hub requests`);
    },
    TIMEOUT_MS + 30_000,
  );
});
