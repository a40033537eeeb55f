/**
 * A loopback stand-in for the OpenAI API, used by integration tests instead of a real provider.
 *
 * It speaks the Chat Completions and Embeddings wire formats as OpenAI sends them (chunk
 * envelopes, the `choices: []` usage chunk, error bodies, tool-call deltas), Jina's rerank
 * (`POST /v1/rerank`, which SiliconFlow, vLLM and other OpenAI-compatible servers add), and picks a
 * behaviour from the request's `model` so tests can drive success, failure and misbehaviour
 * paths by name alone. Only node:http is used, so the fixture cannot drift with a dependency.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getEncoding } from 'js-tiktoken';
import { basicRecord, sleep, splitInto, startLoopback, tokenize, writeThenDestroy } from './loopback.js';
import type { Incoming, LoopbackUpstream, LoopbackUpstreamOptions, RecordedRequest } from './loopback.js';

export type { RecordedRequest } from './loopback.js';

/** `baseURL` is e.g. http://127.0.0.1:54321/v1 */
export type OpenAIUpstream = LoopbackUpstream;

/** With `apiKey` set, every request must carry `Authorization: Bearer <apiKey>`. */
export type OpenAIUpstreamOptions = LoopbackUpstreamOptions;

// ---------------------------------------------------------------------------------------------
// Wire shapes
// ---------------------------------------------------------------------------------------------

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [extra: string]: unknown;
}

interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** What one choice says; rendered either as a `message` or as a sequence of stream deltas. */
interface ChoicePlan {
  content: string | null;
  reasoning?: string;
  toolCalls?: ToolCall[];
  finishReason: 'stop' | 'tool_calls';
}

interface ChatPlan {
  choices: ChoicePlan[];
  usage: Usage;
  /** Pause between stream events (model `slow-stream`). */
  chunkDelayMs: number;
}

function errorBody(message: string, type: string, param: string | null, code: string | null): ErrorBody {
  return { error: { message, type, param, code } };
}

/** OpenAI shows the first few and last four characters of a wrong key, never the whole key. */
function maskKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

function incorrectKeyError(key: string): ErrorBody {
  return errorBody(
    `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}

/** OpenAI answers a request with no key at all differently from one with a wrong key (code null). */
const MISSING_KEY_ERROR = errorBody(
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
  'invalid_request_error',
  null,
  null,
);

/** OpenAI's wording for an unparseable body. */
const BAD_JSON_ERROR = errorBody(
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
  'invalid_request_error',
  null,
  null,
);

/** The `error-<status>` models: status, extra headers and body as OpenAI sends them. */
function modelError(model: string, bearer: string): { status: number; headers?: Record<string, string>; body: ErrorBody } | undefined {
  switch (model) {
    case 'error-400':
      return {
        status: 400,
        body: errorBody("Invalid value for 'temperature': must be <= 2.", 'invalid_request_error', 'temperature', 'invalid_value'),
      };
    case 'error-401':
      return { status: 401, body: incorrectKeyError(bearer || 'sk-test-0000000000000000') };
    case 'error-404':
      return {
        status: 404,
        // OpenAI quotes the model name with backticks.
        body: errorBody(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found'),
      };
    case 'error-429':
      // OpenAI puts the limit kind ("requests" / "tokens") in `type`, not "rate_limit_error".
      return {
        status: 429,
        headers: { 'retry-after': '7' },
        body: errorBody(
          `Rate limit reached for ${model} in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 7s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
          'requests',
          null,
          'rate_limit_exceeded',
        ),
      };
    case 'error-500':
      return {
        status: 500,
        body: errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', null, null),
      };
    case 'error-503':
      return {
        status: 503,
        body: errorBody('The engine is currently overloaded, please try again later.', 'server_error', null, null),
      };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function randomId(prefix: string): string {
  return prefix + randomBytes(21).toString('base64url').replace(/[-_]/g, 'x').slice(0, 29);
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** Text of the last user message; content may be a string or an array of parts. */
function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content
        .filter((p): p is { type: 'text'; text: string } => p?.type === 'text' && typeof p.text === 'string')
        .map((p) => p.text)
        .join(' ');
    }
    return '';
  }
  return '';
}

/** How many image parts the last user message holds. */
function lastUserImages(messages: unknown[]): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m?.role !== 'user') continue;
    return Array.isArray(m.content) ? m.content.filter((p) => p?.type === 'image_url').length : 0;
  }
  return 0;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': randomId('req_'),
    'openai-processing-ms': '3',
    ...headers,
  });
  res.end(text);
}

function startEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': randomId('req_'),
  });
}

// ---------------------------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------------------------

const WEATHER_CALL: ToolCall = { id: 'call_weather_1', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' };
const TIME_CALL: ToolCall = { id: 'call_time_2', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' };

/** The freeform input `patcher` sends to `apply_patch`. */
export const PATCH_INPUT = '*** Begin Patch\n*** Add File: hello.txt\n+say "héllo" \\o/ \u{1F600}\n*** End Patch';
const PATCH_CALL: ToolCall = { id: 'call_patch_1', name: 'apply_patch', arguments: JSON.stringify({ input: PATCH_INPUT }).replace(/\u{1F600}/u, '\\ud83d\\ude00') };

function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

let o200k: ReturnType<typeof getEncoding> | undefined;
/** js-tiktoken takes ~0.5 s for some texts (emoji): tests send the same prompt many times. */
const counted = new Map<string, number>();

/**
 * Prompt tokens as OpenAI counts them for GPT-4o-family models: o200k_base over every message's
 * text, plus 3 per message and 3 to prime the reply.
 */
function trueUsage(messages: unknown[]): number {
  o200k ??= getEncoding('o200k_base');
  let n = 3;
  for (const m of messages as { content?: unknown }[]) {
    n += 3;
    const c = m?.content;
    const text = typeof c === 'string' ? c : Array.isArray(c) ? c.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join('') : '';
    let c2 = counted.get(text);
    if (c2 === undefined) {
      c2 = o200k.encode(text).length;
      if (counted.size < 1000) counted.set(text, c2);
    }
    n += c2;
  }
  return n;
}

/** Decides what the "model" answers; behaviour is keyed on the model name. */
function planChat(model: string, body: Record<string, any>): ChatPlan {
  const messages: unknown[] = Array.isArray(body.messages) ? body.messages : [];
  // `<name>-slow-stream` streams slowly too, for a slow stream under a real model's name (e.g. gpt-4o-slow-stream).
  const base = { chunkDelayMs: model === 'slow-stream' || model.endsWith('-slow-stream') ? 100 : 0 };

  if (model === 'tools') {
    const isToolResultTurn = messages.some((m) => (m as { role?: unknown } | null)?.role === 'tool');
    if (isToolResultTurn) {
      return { ...base, choices: [{ content: 'The weather in Paris is 18°C.', finishReason: 'stop' }], usage: usage(60, 10) };
    }
    return { ...base, choices: [{ content: null, toolCalls: [WEATHER_CALL, TIME_CALL], finishReason: 'tool_calls' }], usage: usage(40, 20) };
  }

  if (model === 'patcher') {
    // Calls `apply_patch` with one string argument, as a Responses `custom` tool reaches a chat
    // model through the hub; the text has quotes, escapes and non-ASCII to stream in pieces.
    if (messages.some((m) => (m as { role?: unknown } | null)?.role === 'tool')) {
      return { ...base, choices: [{ content: 'Patched.', finishReason: 'stop' }], usage: usage(70, 3) };
    }
    return { ...base, choices: [{ content: null, toolCalls: [PATCH_CALL], finishReason: 'tool_calls' }], usage: usage(50, 30) };
  }

  if (model === 'reasoner') {
    // DeepSeek R1 shape: reasoning_content beside content; cache hits only in DeepSeek's own
    // counters, so the hub has to normalize them into prompt_tokens_details.
    return {
      ...base,
      choices: [{ content: 'The answer is 42.', reasoning: 'Let me think step by step.', finishReason: 'stop' }],
      usage: {
        ...usage(30, 50),
        completion_tokens_details: { reasoning_tokens: 35 },
        prompt_cache_hit_tokens: 10,
        prompt_cache_miss_tokens: 20,
      },
    };
  }

  if (model === 'vision') {
    const images = lastUserImages(messages);
    return { ...base, choices: [{ content: `I see ${images} image(s).`, finishReason: 'stop' }], usage: usage(12, 9) };
  }

  if (model === 'tokenized') {
    // Usage as a real tokenizer counts the prompt (for budget tests with prompts that tokenize
    // badly); a one-token answer that takes a moment, so concurrent requests overlap.
    return { chunkDelayMs: 25, choices: [{ content: 'ok', finishReason: 'stop' }], usage: usage(trueUsage(messages), 1) };
  }

  if (model === 'json') {
    return { ...base, choices: [{ content: '{"name":"Ada Lovelace","born":1815}', finishReason: 'stop' }], usage: usage(25, 12) };
  }

  const text = `Hello from ${model}! You said: ${lastUserText(messages)}`;
  const n = Number.isInteger(body.n) && body.n > 1 ? (body.n as number) : 1;
  if (n === 1) return { ...base, choices: [{ content: text, finishReason: 'stop' }], usage: usage(12, 9) };
  const choices = Array.from({ length: n }, (_, i): ChoicePlan => ({ content: `${text} (#${i})`, finishReason: 'stop' }));
  return { ...base, choices, usage: usage(12, 9 * n) };
}

/** A plausible logprobs entry per token; `top_logprobs` stays empty as we only fake the chosen one. */
function tokenLogprobs(tokens: string[]): Array<{ token: string; logprob: number; bytes: number[]; top_logprobs: [] }> {
  return tokens.map((token, i) => ({
    token,
    logprob: -0.0001 * (i + 1),
    bytes: [...Buffer.from(token, 'utf8')],
    top_logprobs: [],
  }));
}

function messageOf(choice: ChoicePlan): Record<string, unknown> {
  return {
    role: 'assistant',
    content: choice.content,
    ...(choice.reasoning !== undefined ? { reasoning_content: choice.reasoning } : {}),
    ...(choice.toolCalls
      ? { tool_calls: choice.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })) }
      : {}),
    refusal: null,
  };
}

interface Envelope {
  id: string;
  created: number;
  model: string;
}

function completionBody(env: Envelope, plan: ChatPlan, wantLogprobs: boolean): Record<string, unknown> {
  return {
    id: env.id,
    object: 'chat.completion',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_test',
    choices: plan.choices.map((c, index) => ({
      index,
      message: messageOf(c),
      logprobs: wantLogprobs && c.content !== null ? { content: tokenLogprobs(tokenize(c.content)), refusal: null } : null,
      finish_reason: c.finishReason,
    })),
    usage: plan.usage,
  };
}

interface StreamDelta {
  delta: Record<string, unknown>;
  logprobs: Record<string, unknown> | null;
}

/** The delta sequence OpenAI (or DeepSeek, for reasoning) streams for one choice, before its finish chunk. */
function choiceDeltas(choice: ChoicePlan, wantLogprobs: boolean): StreamDelta[] {
  const out: StreamDelta[] = [];
  const push = (delta: Record<string, unknown>, logprobs: Record<string, unknown> | null = null) => out.push({ delta, logprobs });

  if (choice.toolCalls) {
    push({ role: 'assistant', content: null });
    choice.toolCalls.forEach((call, index) => {
      // First delta of a call carries its identity; later ones only append argument text.
      push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
      for (const piece of splitInto(call.arguments, 4)) push({ tool_calls: [{ index, function: { arguments: piece } }] });
    });
    return out;
  }

  if (choice.reasoning !== undefined) {
    push({ role: 'assistant', content: null, reasoning_content: '' });
    for (const piece of tokenize(choice.reasoning)) push({ content: null, reasoning_content: piece });
    for (const piece of tokenize(choice.content ?? '')) push({ content: piece, reasoning_content: null });
    return out;
  }

  push({ role: 'assistant', content: '', refusal: null });
  for (const token of tokenize(choice.content ?? '')) {
    push({ content: token }, wantLogprobs ? { content: tokenLogprobs([token]), refusal: null } : null);
  }
  return out;
}

/** Every `data:` payload of a chat stream, in order, ending with the optional usage chunk. */
function streamEvents(env: Envelope, plan: ChatPlan, includeUsage: boolean, wantLogprobs: boolean): Array<Record<string, unknown>> {
  // With include_usage, OpenAI adds `usage: null` to every chunk but the last one.
  const chunk = (choices: unknown[], usageValue: Usage | null = null) => ({
    id: env.id,
    object: 'chat.completion.chunk',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_test',
    choices,
    ...(includeUsage ? { usage: usageValue } : {}),
  });

  const events: Array<Record<string, unknown>> = [];
  plan.choices.forEach((choice, index) => {
    for (const { delta, logprobs } of choiceDeltas(choice, wantLogprobs)) {
      events.push(chunk([{ index, delta, logprobs, finish_reason: null }]));
    }
  });
  plan.choices.forEach((choice, index) => {
    events.push(chunk([{ index, delta: {}, logprobs: null, finish_reason: choice.finishReason }]));
  });
  if (includeUsage) events.push(chunk([], plan.usage));
  return events;
}

async function streamChat(res: ServerResponse, events: Array<Record<string, unknown>>, delayMs: number): Promise<void> {
  startEventStream(res);
  for (const event of events) {
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(event)}\n\n`);
    if (delayMs > 0) await sleep(delayMs, res);
  }
  if (!res.destroyed) res.end('data: [DONE]\n\n');
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

type EmbeddingInput = { text: string; tokens: number };

/** Accepts a string, an array of strings, a token array, or an array of token arrays. */
function embeddingInputs(input: unknown): EmbeddingInput[] | undefined {
  const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
  const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x));
  if (typeof input === 'string') return [{ text: input, tokens: words(input) }];
  if (isTokens(input)) return [{ text: input.join(','), tokens: input.length }];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  const out: EmbeddingInput[] = [];
  for (const item of input) {
    if (typeof item === 'string') out.push({ text: item, tokens: words(item) });
    else if (isTokens(item)) out.push({ text: item.join(','), tokens: item.length });
    else return undefined;
  }
  return out;
}

/** Deterministic unit vector from the text: FNV-1a per dimension, then L2-normalized. */
function embed(text: string, dimensions: number): number[] {
  const raw = Array.from({ length: dimensions }, (_, d) => {
    let h = 0x811c9dc5 ^ d;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return ((h >>> 0) / 0xffffffff) * 2 - 1;
  });
  const norm = Math.hypot(...raw) || 1;
  return raw.map((x) => x / norm);
}

/** `encoding_format: "base64"`: the float32 little-endian bytes, base64-encoded. */
function toBase64(vector: number[]): string {
  const view = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return Buffer.from(view.buffer).toString('base64');
}

function embeddingsBody(model: string, body: Record<string, any>, inputs: EmbeddingInput[]): Record<string, unknown> {
  const dimensions = Number.isInteger(body.dimensions) && body.dimensions > 0 ? (body.dimensions as number) : 8;
  const base64 = body.encoding_format === 'base64';
  const tokens = inputs.reduce((sum, i) => sum + i.tokens, 0);
  return {
    object: 'list',
    data: inputs.map((input, index) => {
      const vector = embed(input.text, dimensions);
      return { object: 'embedding', index, embedding: base64 ? toBase64(vector) : vector };
    }),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

// ---------------------------------------------------------------------------------------------
// Rerank (Jina's POST /v1/rerank, which SiliconFlow, Qwen and vLLM serve too)
// ---------------------------------------------------------------------------------------------

const wordsOf = (s: string) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/**
 * A deterministic relevance score: the share of the query's distinct words the document holds,
 * nudged by the document's length so that ties fall the same way every time. In (0, 1].
 */
export function overlapScore(query: string, document: string): number {
  const q = new Set(wordsOf(query));
  const d = new Set(wordsOf(document));
  let shared = 0;
  for (const w of q) if (d.has(w)) shared++;
  return (shared + 1 / (2 + d.size)) / (q.size + 1);
}

/** Jina's rerank answer: results best first, `top_n` of them, documents only when asked; usage as total_tokens. */
function rerankBody(model: string, body: Record<string, any>, documents: string[]): Record<string, unknown> {
  const scored = documents.map((text, index) => ({ index, relevance_score: overlapScore(body.query, text), text }));
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  const top = Number.isInteger(body.top_n) ? scored.slice(0, body.top_n) : scored;
  // Jina sends the documents back unless told not to.
  const withDocs = body.return_documents !== false;
  const tokens = wordsOf(body.query).length * documents.length + documents.reduce((n, d) => n + wordsOf(d).length, 0);
  return {
    model,
    usage: { total_tokens: tokens },
    results: top.map((r) => ({ index: r.index, relevance_score: r.relevance_score, ...(withDocs && { document: { text: r.text } }) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-test', 'tools', 'reasoner', 'json', 'text-embedding-3-small'];

function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

export async function startOpenAIUpstream(opts: OpenAIUpstreamOptions = {}): Promise<OpenAIUpstream> {
  const slowFirstByteMs = opts.slowFirstByteMs ?? 1500;

  /**
   * Behaviours shared by every POST route. Returns true when the request has been dealt with
   * (answered, cut, or deliberately left hanging) and the normal answer must not be sent.
   */
  async function specialModel(
    req: IncomingMessage,
    res: ServerResponse,
    model: string,
    stream: boolean,
    markCut: () => void,
    fullBody: () => unknown,
  ): Promise<boolean> {
    const failure = modelError(model, bearerOf(req) ?? '');
    if (failure) {
      sendJson(res, failure.status, failure.body, failure.headers);
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
          res.end('data: {not json\n\ndata: [DONE]\n\n');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('<html>oops</html>');
        }
        return true;
      case 'cut':
        if (stream) return false; // chat streams cut themselves after some content (see handleChat)
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

  async function handleChat(req: IncomingMessage, res: ServerResponse, body: Record<string, any>, markCut: () => void): Promise<void> {
    const model = body.model;
    if (typeof model !== 'string' || model === '') {
      return sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error', null, null));
    }
    if (!Array.isArray(body.messages)) {
      return sendJson(res, 400, errorBody("Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter'));
    }
    const stream = body.stream === true;
    const wantLogprobs = body.logprobs === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const env: Envelope = { id: randomId('chatcmpl-'), created: unixNow(), model };
    const plan = planChat(model, body);

    if (await specialModel(req, res, model, stream, markCut, () => completionBody(env, plan, wantLogprobs))) return;

    if (stream && model === 'cut') {
      markCut();
      const roleChunk = streamEvents(env, plan, includeUsage, false)[0]!;
      const contentChunk = (content: string) => ({ ...roleChunk, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] });
      startEventStream(res);
      res.write(`data: ${JSON.stringify(roleChunk)}\n\n`);
      res.write(`data: ${JSON.stringify(contentChunk('Partial '))}\n\n`);
      writeThenDestroy(res, `data: ${JSON.stringify(contentChunk('answer'))}\n\n`);
      return;
    }

    if (stream) return streamChat(res, streamEvents(env, plan, includeUsage, wantLogprobs), plan.chunkDelayMs);

    if (plan.chunkDelayMs > 0) {
      // Non-streaming slow-stream takes as long as its stream would have.
      await sleep(plan.chunkDelayMs * streamEvents(env, plan, false, false).length, res);
      if (res.destroyed) return;
    }
    sendJson(res, 200, completionBody(env, plan, wantLogprobs));
  }

  async function handleEmbeddings(req: IncomingMessage, res: ServerResponse, body: Record<string, any>, markCut: () => void): Promise<void> {
    const model = body.model;
    if (typeof model !== 'string' || model === '') {
      return sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error', null, null));
    }
    const inputs = embeddingInputs(body.input);
    if (!inputs) {
      return sendJson(
        res,
        400,
        errorBody("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'invalid_request_error', null, null),
      );
    }
    if (await specialModel(req, res, model, false, markCut, () => embeddingsBody(model, body, inputs))) return;
    sendJson(res, 200, embeddingsBody(model, body, inputs));
  }

  async function handleRerank(req: IncomingMessage, res: ServerResponse, body: Record<string, any>, markCut: () => void): Promise<void> {
    const model = body.model;
    if (typeof model !== 'string' || model === '') return sendJson(res, 400, { detail: 'model is required' });
    const docs = body.documents;
    if (typeof body.query !== 'string' || !Array.isArray(docs) || docs.length === 0 || !docs.every((d: unknown) => typeof d === 'string')) {
      // Jina is a FastAPI service: validation errors come as {detail}.
      return sendJson(res, 422, { detail: [{ loc: ['body', 'documents'], msg: 'query must be a string and documents a non-empty list of strings', type: 'value_error' }] });
    }
    if (body.top_n !== undefined && !(Number.isInteger(body.top_n) && body.top_n >= 1)) return sendJson(res, 422, { detail: [{ loc: ['body', 'top_n'], msg: 'top_n must be ≥ 1', type: 'value_error' }] });
    if (await specialModel(req, res, model, false, markCut, () => rerankBody(model, body, docs))) return;
    sendJson(res, 200, rerankBody(model, body, docs));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, { record, body, badJson, markCut }: Incoming<RecordedRequest>): Promise<void> {
    const path = record.path;
    if (opts.apiKey !== undefined) {
      const bearer = bearerOf(req);
      if (bearer === undefined) return sendJson(res, 401, MISSING_KEY_ERROR);
      if (bearer !== opts.apiKey) return sendJson(res, 401, incorrectKeyError(bearer));
    }

    const route = `${record.method} ${path}`;
    if (route === 'GET /v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: MODELS.map((id) => ({ id, object: 'model', created: 1_715_367_049, owned_by: 'test' })),
      });
    }
    if (route !== 'POST /v1/chat/completions' && route !== 'POST /v1/embeddings' && route !== 'POST /v1/rerank') {
      return sendJson(res, 404, errorBody(`Invalid URL (${route})`, 'invalid_request_error', null, null));
    }
    if (badJson !== undefined) return sendJson(res, 400, BAD_JSON_ERROR);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendJson(res, 400, errorBody('The request body must be a JSON object.', 'invalid_request_error', null, null));
    }
    const json = body as Record<string, any>;
    if (path === '/v1/chat/completions') return handleChat(req, res, json, markCut);
    if (path === '/v1/rerank') return handleRerank(req, res, json, markCut);
    return handleEmbeddings(req, res, json, markCut);
  }

  return startLoopback({
    basePath: '/v1',
    record: basicRecord,
    handle,
    fixtureError: (res, message) => sendJson(res, 500, errorBody(message, 'server_error', null, null)),
  });
}
