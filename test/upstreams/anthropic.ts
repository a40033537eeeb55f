/**
 * A loopback stand-in for the Anthropic API, used by integration tests instead of a real provider.
 *
 * It speaks the Messages wire format as Anthropic documents and sends it: `x-api-key` (or
 * `Authorization: Bearer`) auth, the required `anthropic-version` header (2023-06-01 or 2026-10-21;
 * the latter rejects temperature / top_p / top_k), `{"type":"error","error":{...},"request_id":...}` error
 * bodies with a matching `request-id` header, content blocks (text / thinking / tool_use), and
 * the named SSE event flow (message_start, ping, content_block_start/delta/stop, message_delta,
 * message_stop, and mid-stream `error` events). It picks a behaviour from the request's `model`
 * (see SCENARIOS.md) so tests can drive success, failure and misbehaviour paths by name alone.
 * Only node:http is used, so the fixture cannot drift with a dependency.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basicRecord, sleep, splitInto, startLoopback, tokenize, writeThenDestroy } from './loopback.js';
import type { Incoming, LoopbackUpstream, LoopbackUpstreamOptions, RecordedRequest } from './loopback.js';

export type { RecordedRequest } from './loopback.js';

/**
 * `baseURL` is e.g. http://127.0.0.1:54321 (no /v1: the SDK and the hub append /v1/messages
 * themselves). In `requests`, `body.thinking` shows whether a request enabled extended thinking
 * (model `reasoner` answers the same either way).
 */
export type AnthropicUpstream = LoopbackUpstream;

/** With `apiKey` set, every request must carry `x-api-key: <apiKey>` (or `Authorization: Bearer <apiKey>`). */
export type AnthropicUpstreamOptions = LoopbackUpstreamOptions;

// ---------------------------------------------------------------------------------------------
// Wire shapes
// ---------------------------------------------------------------------------------------------

type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Anthropic's error body; `request_id` repeats the `request-id` response header. */
interface ErrorBody {
  type: 'error';
  error: { type: ErrorType; message: string };
  request_id?: string;
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

type StopReason = 'end_turn' | 'tool_use' | 'stop_sequence';

/** What the "model" answers; rendered either as one Message or as a sequence of stream events. */
interface MessagePlan {
  content: Block[];
  stopReason: StopReason;
  stopSequence: string | null;
  usage: Usage;
  /** Pause between stream events (model `slow-stream`). */
  chunkDelayMs: number;
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

function errorBody(type: ErrorType, message: string, requestId?: string): ErrorBody {
  return { type: 'error', error: { type, message }, ...(requestId ? { request_id: requestId } : {}) };
}

/** The `error-<status>` models: status, extra headers and error as Anthropic sends them. */
function modelError(model: string): { status: number; headers?: Record<string, string>; type: ErrorType; message: string } | undefined {
  switch (model) {
    case 'error-400':
      return {
        status: 400,
        type: 'invalid_request_error',
        message: 'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row',
      };
    case 'error-401':
      return { status: 401, type: 'authentication_error', message: 'invalid x-api-key' };
    case 'error-404':
      // Anthropic names the unknown model as `model: <id>`.
      return { status: 404, type: 'not_found_error', message: `model: ${model}` };
    case 'error-429':
      return {
        status: 429,
        headers: { 'retry-after': '7' },
        type: 'rate_limit_error',
        message:
          "This request would exceed your organization's rate limit of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the number of requests, or try again later.",
      };
    case 'error-500':
      return { status: 500, type: 'api_error', message: 'Internal server error' };
    case 'error-503':
      return { status: 503, type: 'overloaded_error', message: 'Overloaded' };
    case 'error-529':
      return { status: 529, type: 'overloaded_error', message: 'Overloaded' };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Anthropic-style ids: `msg_01…`, `req_011C…` followed by base58 characters. */
function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += BASE58[b % BASE58.length];
  return out;
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

type Part = { type?: unknown; text?: unknown; content?: unknown } | null | undefined;

function partsOf(content: unknown): Part[] {
  return Array.isArray(content) ? (content as Part[]) : [];
}

function lastUserMessage(messages: unknown[]): { content?: unknown } | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m?.role === 'user') return m;
  }
  return undefined;
}

/** Text of the last user message: a string, or its `text` blocks joined with one space (tool_result blocks ignored). */
function lastUserText(messages: unknown[]): string {
  const m = lastUserMessage(messages);
  if (!m) return '';
  if (typeof m.content === 'string') return m.content;
  return partsOf(m.content)
    .filter((p): p is { type: 'text'; text: string } => p?.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join(' ');
}

/** How many `image` blocks (base64 or url source alike) the last user message holds. */
function lastUserImages(messages: unknown[]): number {
  return partsOf(lastUserMessage(messages)?.content).filter((p) => p?.type === 'image').length;
}

/** Whether any user turn carries a tool_result block (the tool-result turn of model `tools`). */
function hasToolResult(messages: unknown[]): boolean {
  return messages.some((m) => {
    const msg = m as { role?: unknown; content?: unknown } | null;
    return msg?.role === 'user' && partsOf(msg.content).some((p) => p?.type === 'tool_result');
  });
}

/**
 * Deterministic stand-in for token counting (POST /v1/messages/count_tokens): the number of
 * whitespace-separated words across all text in `system` (a string or text blocks) and
 * `messages` (string contents, `text` blocks, and the string or text-block content of
 * `tool_result` blocks), plus 5 per entry in `tools`. Images and other blocks count nothing.
 */
function countInputTokens(body: Record<string, any>): number {
  const textOf = (content: unknown): number => {
    if (typeof content === 'string') return wordCount(content);
    let n = 0;
    for (const p of partsOf(content)) {
      if (p?.type === 'text' && typeof p.text === 'string') n += wordCount(p.text);
      else if (p?.type === 'tool_result') n += textOf(p.content);
    }
    return n;
  };
  let total = textOf(body.system);
  for (const m of Array.isArray(body.messages) ? body.messages : []) total += textOf((m as { content?: unknown } | null)?.content);
  return total + (Array.isArray(body.tools) ? body.tools.length * 5 : 0);
}

function requestIdOf(res: ServerResponse): string {
  const id = res.getHeader('request-id');
  return typeof id === 'string' ? id : '';
}

/** Every response carries `request-id` (set in `handle`); this adds the JSON headers. */
function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, type: ErrorType, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(type, message, requestIdOf(res)), headers);
}

function startEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
}

function sse(e: SseEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

const WEATHER_CALL: Block = { type: 'tool_use', id: 'toolu_weather_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } };
const TIME_CALL: Block = { type: 'tool_use', id: 'toolu_time_2', name: 'get_time', input: { timezone: 'Europe/Paris' } };

function usage(input: number, output: number, cacheRead = 0, cacheCreation = 0): Usage {
  return { input_tokens: input, output_tokens: output, cache_creation_input_tokens: cacheCreation, cache_read_input_tokens: cacheRead };
}

/** A text-only answer, cut before the earliest requested stop sequence it contains. */
function textPlan(text: string, u: Usage, stopSequences: unknown, chunkDelayMs: number): MessagePlan {
  let cut: { at: number; seq: string } | undefined;
  if (Array.isArray(stopSequences)) {
    for (const seq of stopSequences) {
      if (typeof seq !== 'string' || seq === '') continue;
      const at = text.indexOf(seq);
      if (at >= 0 && (!cut || at < cut.at)) cut = { at, seq };
    }
  }
  if (cut) {
    return { content: [{ type: 'text', text: text.slice(0, cut.at) }], stopReason: 'stop_sequence', stopSequence: cut.seq, usage: u, chunkDelayMs };
  }
  return { content: [{ type: 'text', text }], stopReason: 'end_turn', stopSequence: null, usage: u, chunkDelayMs };
}

/** Decides what the "model" answers; behaviour is keyed on the model name. */
function planMessage(model: string, body: Record<string, any>): MessagePlan {
  const messages: unknown[] = Array.isArray(body.messages) ? body.messages : [];
  const chunkDelayMs = model === 'slow-stream' ? 100 : 0;
  const text = (t: string, u: Usage) => textPlan(t, u, body.stop_sequences, chunkDelayMs);

  if (model === 'tools') {
    if (hasToolResult(messages)) return text('The weather in Paris is 18°C.', usage(60, 10));
    return { content: [WEATHER_CALL, TIME_CALL], stopReason: 'tool_use', stopSequence: null, usage: usage(40, 20), chunkDelayMs };
  }

  if (model === 'reasoner') {
    // Anthropic's input_tokens excludes cache reads: canonical input 30 = 20 + 10 cached.
    return {
      content: [
        { type: 'thinking', thinking: 'Let me think step by step.', signature: 'sig-reasoner-1' },
        { type: 'text', text: 'The answer is 42.' },
      ],
      stopReason: 'end_turn',
      stopSequence: null,
      usage: usage(20, 50, 10, 0),
      chunkDelayMs,
    };
  }

  if (model === 'vision') return text(`I see ${lastUserImages(messages)} image(s).`, usage(12, 9));
  if (model === 'json') return text('{"name":"Ada Lovelace","born":1815}', usage(25, 12));
  return text(`Hello from ${model}! You said: ${lastUserText(messages)}`, usage(12, 9));
}

interface Envelope {
  id: string;
  model: string;
}

function messageBody(env: Envelope, plan: MessagePlan): Record<string, unknown> {
  return {
    id: env.id,
    type: 'message',
    role: 'assistant',
    model: env.model,
    content: plan.content,
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    usage: plan.usage,
  };
}

function messageStart(env: Envelope, plan: MessagePlan): SseEvent {
  // The Message in message_start has empty content, null stop fields, the input-side usage and
  // the output tokens generated so far (1, as in Anthropic's documented example).
  return {
    event: 'message_start',
    data: {
      type: 'message_start',
      message: { ...messageBody(env, plan), content: [], stop_reason: null, stop_sequence: null, usage: { ...plan.usage, output_tokens: 1 } },
    },
  };
}

/** The `content_block` of content_block_start: the block with its growing fields empty. */
function emptyBlock(block: Block): Record<string, unknown> {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: '' };
    case 'thinking':
      return { type: 'thinking', thinking: '', signature: '' };
    case 'tool_use':
      return { type: 'tool_use', id: block.id, name: block.name, input: {} };
  }
}

/** The deltas that rebuild one block: text/thinking by word, the signature once at the end, tool input as partial JSON. */
function blockDeltas(block: Block): Array<Record<string, unknown>> {
  switch (block.type) {
    case 'text':
      return tokenize(block.text).map((text) => ({ type: 'text_delta', text }));
    case 'thinking':
      return [
        ...tokenize(block.thinking).map((thinking) => ({ type: 'thinking_delta', thinking })),
        { type: 'signature_delta', signature: block.signature },
      ];
    case 'tool_use':
      // The API opens tool input with an empty partial_json, then streams the JSON text in pieces.
      return ['', ...splitInto(JSON.stringify(block.input), 3)].map((partial_json) => ({ type: 'input_json_delta', partial_json }));
  }
}

/** Every event of a message stream, in Anthropic's documented order. */
function streamEvents(env: Envelope, plan: MessagePlan): SseEvent[] {
  const events: SseEvent[] = [messageStart(env, plan)];
  plan.content.forEach((block, index) => {
    events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: emptyBlock(block) } });
    // As in the documented example stream, a ping follows the first content_block_start.
    if (index === 0) events.push({ event: 'ping', data: { type: 'ping' } });
    for (const delta of blockDeltas(block)) {
      events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
      // Cumulative counts for the whole message, as MessageDeltaUsage defines them.
      usage: { ...plan.usage },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

async function streamMessage(res: ServerResponse, events: SseEvent[], delayMs: number): Promise<void> {
  startEventStream(res);
  for (const event of events) {
    if (res.destroyed) return;
    res.write(sse(event));
    if (delayMs > 0) await sleep(delayMs, res);
  }
  if (!res.destroyed) res.end();
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const MODELS: Array<{ id: string; display_name: string; created_at: string }> = [
  { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
  { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5', created_at: '2025-10-01T00:00:00Z' },
  { id: 'claude-test', display_name: 'Claude Test', created_at: '2025-01-01T00:00:00Z' },
  { id: 'tools', display_name: 'Tools', created_at: '2025-01-01T00:00:00Z' },
  { id: 'reasoner', display_name: 'Reasoner', created_at: '2025-01-01T00:00:00Z' },
  { id: 'vision', display_name: 'Vision', created_at: '2025-01-01T00:00:00Z' },
];

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The API key a request carries. Anthropic documents `x-api-key`, but also takes the key as
 * `Authorization: Bearer <key>` (what the SDK majors for API version 2026-10-21, such as
 * @anthropic-ai/sdk 1.x, send); when both are present `x-api-key` is the one used.
 */
function apiKeyOf(req: IncomingMessage): string | undefined {
  const key = headerOf(req, 'x-api-key');
  if (key !== undefined) return key;
  const auth = headerOf(req, 'authorization');
  const match = auth === undefined ? null : /^Bearer\s+(.+)$/i.exec(auth.trim());
  return match?.[1];
}

/** The `anthropic-version` values the API accepts; any other value is a 400. */
const API_VERSIONS = ['2023-06-01', '2026-10-21'];

/** Request fields that API version 2026-10-21 rejects (Messages and token counting alike). */
const SAMPLING_PARAMS = ['temperature', 'top_p', 'top_k'];

export async function startAnthropicUpstream(opts: AnthropicUpstreamOptions = {}): Promise<AnthropicUpstream> {
  const slowFirstByteMs = opts.slowFirstByteMs ?? 1500;

  /**
   * Behaviours shared by both POST routes. Returns true when the request has been dealt with
   * (answered, cut, or deliberately left hanging) and the normal answer must not be sent.
   */
  async function specialModel(res: ServerResponse, model: string, stream: boolean, markCut: () => void, fullBody: () => unknown): Promise<boolean> {
    const failure = modelError(model);
    if (failure) {
      sendError(res, failure.status, failure.type, failure.message, failure.headers);
      return true;
    }
    switch (model) {
      case 'hang':
        return true; // never answer; the 'close' listener counts the abort
      case 'slow':
        await sleep(slowFirstByteMs, res);
        return res.destroyed;
      case 'garbage':
        if (stream) {
          startEventStream(res);
          res.end('event: message_start\ndata: {not json\n\n');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('<html>oops</html>');
        }
        return true;
      case 'overloaded-midstream':
        if (stream) return false; // streams fail after message_start (see handleMessages)
        // Without a stream the same overload can only show up as the plain HTTP 529.
        sendError(res, 529, 'overloaded_error', 'Overloaded');
        return true;
      case 'cut':
        if (stream) return false; // streams cut themselves after some content (see handleMessages)
        {
          markCut();
          const text = JSON.stringify(fullBody());
          // Promise the whole body, deliver half: the client sees a premature close, not a short JSON.
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          writeThenDestroy(res, text.slice(0, Math.floor(text.length / 2)));
        }
        return true;
      default:
        return false;
    }
  }

  /** The API's own validation of required fields, in its `<field>: Field required` wording. */
  function missingField(body: Record<string, any>, fields: string[]): string | undefined {
    if (typeof body.model !== 'string' && fields.includes('model')) return 'model: Field required';
    if (body.max_tokens === undefined && fields.includes('max_tokens')) return 'max_tokens: Field required';
    if (!Array.isArray(body.messages) && fields.includes('messages')) return 'messages: Field required';
    return undefined;
  }

  async function handleMessages(res: ServerResponse, body: Record<string, any>, markCut: () => void): Promise<void> {
    const missing = missingField(body, ['model', 'max_tokens', 'messages']);
    if (missing) return sendError(res, 400, 'invalid_request_error', missing);
    if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
      return sendError(res, 400, 'invalid_request_error', 'max_tokens: Input should be a valid integer greater than or equal to 1');
    }
    const model: string = body.model;
    const stream = body.stream === true;
    const env: Envelope = { id: randomId('msg_01', 22), model };
    const plan = planMessage(model, body);

    if (await specialModel(res, model, stream, markCut, () => messageBody(env, plan))) return;

    if (stream && model === 'cut') {
      markCut();
      const textDelta = (text: string) => sse({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } } });
      startEventStream(res);
      res.write(sse(messageStart(env, plan)));
      res.write(sse({ event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }));
      res.write(textDelta('Partial '));
      writeThenDestroy(res, textDelta('answer'));
      return;
    }

    if (stream && model === 'overloaded-midstream') {
      // Documented mid-stream failure: after a 200 and message_start, an `error` event, then the end.
      startEventStream(res);
      res.write(sse(messageStart(env, plan)));
      res.end(sse({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }));
      return;
    }

    if (stream) return streamMessage(res, streamEvents(env, plan), plan.chunkDelayMs);

    if (plan.chunkDelayMs > 0) {
      // Non-streaming slow-stream takes as long as its stream would have.
      await sleep(plan.chunkDelayMs * streamEvents(env, plan).length, res);
      if (res.destroyed) return;
    }
    sendJson(res, 200, messageBody(env, plan));
  }

  async function handleCountTokens(res: ServerResponse, body: Record<string, any>, markCut: () => void): Promise<void> {
    const missing = missingField(body, ['model', 'messages']);
    if (missing) return sendError(res, 400, 'invalid_request_error', missing);
    const result = { input_tokens: countInputTokens(body) };
    if (await specialModel(res, body.model as string, false, markCut, () => result)) return;
    sendJson(res, 200, result);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, { record, body, badJson, markCut }: Incoming<RecordedRequest>): Promise<void> {
    const path = record.path;
    // Every API response carries a unique request-id header; error bodies repeat it as request_id.
    res.setHeader('request-id', randomId('req_011C', 20));

    if (opts.apiKey !== undefined) {
      const key = apiKeyOf(req);
      if (key === undefined) return sendError(res, 401, 'authentication_error', 'x-api-key header is required');
      if (key !== opts.apiKey) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
    }

    const route = `${record.method} ${path}`;
    const known = route === 'GET /v1/models' || route === 'POST /v1/messages' || route === 'POST /v1/messages/count_tokens';
    if (!known) return sendError(res, 404, 'not_found_error', 'Not Found');

    const version = headerOf(req, 'anthropic-version');
    if (version === undefined) return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    if (!API_VERSIONS.includes(version)) {
      return sendError(res, 400, 'invalid_request_error', `anthropic-version: ${JSON.stringify(version)} is not a valid version`);
    }

    if (route === 'GET /v1/models') {
      const data = MODELS.map((m) => ({ type: 'model', ...m }));
      return sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    }

    if (badJson !== undefined) return sendError(res, 400, 'invalid_request_error', `The request body is not valid JSON: ${badJson}`);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendError(res, 400, 'invalid_request_error', 'The request body must be a JSON object.');
    }
    const json = body as Record<string, any>;
    if (version === '2026-10-21') {
      // API version 2026-10-21 removed the sampling parameters: sending one is a 400, even at its default.
      const removed = SAMPLING_PARAMS.find((p) => p in json);
      if (removed) return sendError(res, 400, 'invalid_request_error', `${removed}: Extra inputs are not permitted`);
    }
    if (path === '/v1/messages') return handleMessages(res, json, markCut);
    return handleCountTokens(res, json, markCut);
  }

  return startLoopback({
    basePath: '',
    record: basicRecord,
    handle,
    fixtureError: (res, message) => sendError(res, 500, 'api_error', message),
  });
}
