/**
 * A loopback OpenAI-compatible upstream whose answers are scripted per request, for driving real
 * coding-agent CLIs (Claude Code, Codex) through the hub without a real model.
 *
 * The hub translates whatever the agent speaks (Anthropic Messages, OpenAI Responses) into Chat
 * Completions for this server; the script sees the translated body and decides whether to answer
 * with text or with tool calls. Both streaming (with the `include_usage` chunk) and non-streaming
 * answers are sent in OpenAI's wire format, like test/upstreams/openai.ts does. Only node:http is
 * used.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../upstreams/loopback.js';

export interface ScriptedToolCall {
  name: string;
  /** The arguments object; sent as its JSON text. */
  arguments: Record<string, unknown>;
}

/** What the "model" says for one request. */
export type ScriptedReply = { text: string } | { toolCalls: ScriptedToolCall[]; text?: string };

export interface ScriptedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined when it was not JSON). */
  body: any;
  /** What the script answered (undefined for requests that got no scripted answer, e.g. GETs). */
  reply?: ScriptedReply;
  /** The usage this server reported for the answer. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface ScriptedUpstream {
  /** e.g. http://127.0.0.1:54321/v1 */
  readonly baseURL: string;
  /** Every request received, in arrival order. */
  readonly requests: ScriptedRequest[];
  close(): Promise<void>;
}

export type Script = (body: ChatBody) => ScriptedReply;

/** The parts of a Chat Completions request body the scripts look at. */
export interface ChatBody {
  model: string;
  messages: ChatMessage[];
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [key: string]: unknown;
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | null | Array<{ type: string; text?: string; [k: string]: unknown }>;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  [key: string]: unknown;
}

/** Plain text of a message's content, parts joined with a newline. */
export function messageText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (!Array.isArray(m.content)) return '';
  return m.content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('\n');
}

/** Names of the function tools a request offers. */
export function toolNames(body: ChatBody): string[] {
  return (body.tools ?? []).map((t) => t.function?.name).filter((n): n is string => typeof n === 'string');
}

/** The tool-result messages of a conversation, with the name of the call each answers. */
export function toolResults(body: ChatBody): Array<{ name: string | undefined; callId: string; text: string }> {
  const names = new Map<string, string>();
  for (const m of body.messages) for (const c of m.tool_calls ?? []) names.set(c.id, c.function.name);
  return body.messages
    .filter((m) => m.role === 'tool')
    .map((m) => ({ name: names.get(m.tool_call_id ?? ''), callId: m.tool_call_id ?? '', text: messageText(m) }));
}

function randomId(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** A rough token count (4 characters a token), so usage numbers are plausible and non-zero. */
function roughTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}


function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function splitInto(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / parts));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

export async function startScriptedUpstream(script: Script): Promise<ScriptedUpstream> {
  const requests: ScriptedRequest[] = [];
  let callCounter = 0;

  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const record: ScriptedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
    requests.push(record);

    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'scripted', object: 'model', created: 0, owned_by: 'test' }] });
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendJson(res, 404, { error: { message: `No route ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: null } });
    }
    if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      return sendJson(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error', param: null, code: null } });
    }

    let reply: ScriptedReply;
    try {
      reply = script(body as ChatBody);
    } catch (err) {
      return sendJson(res, 500, { error: { message: `script failed: ${(err as Error).message}`, type: 'server_error', param: null, code: null } });
    }
    record.reply = reply;

    const calls =
      'toolCalls' in reply ? reply.toolCalls.map((c) => ({ id: `call_${++callCounter}_${randomBytes(4).toString('hex')}`, name: c.name, arguments: JSON.stringify(c.arguments) })) : [];
    const text = 'toolCalls' in reply ? (reply.text ?? null) : reply.text;
    const finish = calls.length > 0 ? 'tool_calls' : 'stop';
    const promptTokens = roughTokens(raw);
    const completionTokens = roughTokens((text ?? '') + calls.map((c) => c.name + c.arguments).join(''));
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    record.usage = usage;
    const id = randomId('chatcmpl-');
    const created = Math.floor(Date.now() / 1000);
    const model = body.model as string;

    if (body.stream !== true) {
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: text,
              ...(calls.length > 0 && { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }),
              refusal: null,
            },
            logprobs: null,
            finish_reason: finish,
          },
        ],
        usage,
      });
    }

    const includeUsage = body.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], usageValue: unknown = null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices,
      ...(includeUsage && { usage: usageValue }),
    });
    const delta = (d: Record<string, unknown>) => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: null }]);
    const events: unknown[] = [delta({ role: 'assistant', content: text === null ? null : '' })];
    if (text) for (const piece of splitInto(text, 3)) events.push(delta({ content: piece }));
    calls.forEach((c, index) => {
      events.push(delta({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
      for (const piece of splitInto(c.arguments, 3)) events.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
    });
    events.push(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]));
    if (includeUsage) events.push(chunk([], usage));

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    for (const e of events) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(e)}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
