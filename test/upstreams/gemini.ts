/**
 * A loopback stand-in for the Google Gemini API (Generative Language API v1beta), used by
 * integration tests instead of a real provider.
 *
 * It speaks `models/{model}:generateContent`, `:streamGenerateContent` (SSE with `?alt=sse`, the
 * streamed JSON array without it), `:countTokens`, `:batchEmbedContents` and `GET models` as Google sends them:
 * candidates/parts envelopes, `thought` parts and `thoughtSignature`, `functionCall` parts with
 * ids, cumulative `usageMetadata` on every stream chunk, `promptFeedback` blocks and
 * `google.rpc.Status` error bodies. It also refuses what the real API refuses (JSON Schema keys
 * outside Gemini's OpenAPI Schema subset, roles other than `user`/`model`, a missing `contents`),
 * so a gateway that would trip Google trips here first. Behaviour is picked from the model name in
 * the URL path (see SCENARIOS.md). Only node:http is used, so the fixture cannot drift with a
 * dependency.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sleep, startLoopback, tokenize, writeThenDestroy } from './loopback.js';
import type { Incoming, LoopbackUpstream, LoopbackUpstreamOptions, RecordedRequest } from './loopback.js';

export type { RecordedRequest } from './loopback.js';

/** A recorded request; `path` is the URL path (model and method included), `query` its parameters. */
export interface GeminiRecordedRequest extends RecordedRequest {
  query: Record<string, string>;
}

/** `baseURL` is e.g. http://127.0.0.1:54321/v1beta */
export type GeminiUpstream = LoopbackUpstream<GeminiRecordedRequest>;

/** With `apiKey` set, every request must carry the key in `x-goog-api-key` or `?key=`. */
export type GeminiUpstreamOptions = LoopbackUpstreamOptions;

// ---------------------------------------------------------------------------------------------
// Wire shapes
// ---------------------------------------------------------------------------------------------

/** google.rpc.Status as the JSON error body carries it. */
interface ErrorBody {
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> };
}

interface GeminiError {
  status: number;
  body: ErrorBody;
}

type Part = Record<string, unknown>;

interface SafetyRating {
  category: string;
  probability: string;
  blocked?: boolean;
}

interface UsageCounts {
  prompt: number;
  candidates: number;
  thoughts?: number;
  cached?: number;
}

/** What the "model" answers: rendered as one response, or as a sequence of stream chunks. */
interface Plan {
  /** Candidate content of the non-streaming response (empty with a content-less candidate). */
  parts: Part[];
  /** Streaming: the parts each chunk carries; the last chunk also carries finishReason. */
  chunks: Part[][];
  finishReason: 'STOP' | 'SAFETY';
  finishMessage?: string;
  /** Candidate safety ratings (only sent when a rating blocked the answer, as Gemini 2.x does). */
  safetyRatings?: SafetyRating[];
  /** The prompt itself was blocked: no candidates at all. */
  promptFeedback?: { blockReason: string; safetyRatings: SafetyRating[] };
  usage: UsageCounts;
  /** Pause between stream chunks (model `slow-stream`). */
  chunkDelayMs: number;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

function googleError(code: number, message: string, details?: Array<Record<string, unknown>>): GeminiError {
  const status = STATUS_NAMES[code] ?? 'UNKNOWN';
  return { status: code, body: { error: { code, message, status, ...(details ? { details } : {}) } } };
}

function invalidArgument(message: string): GeminiError {
  return googleError(400, message);
}

const SERVICE = 'generativelanguage.googleapis.com';

/** What Google answers a key it does not know (HTTP 400, not 401). */
const API_KEY_INVALID = googleError(400, 'API key not valid. Please pass a valid API key.', [
  {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: 'API_KEY_INVALID',
    domain: 'googleapis.com',
    metadata: { service: SERVICE },
  },
  { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
]);

/** What Google answers a request that carries no key at all. */
const NO_KEY = googleError(
  403,
  "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
);

/** What Google answers a bearer token it cannot use (e.g. an API key sent as `Authorization: Bearer`). */
function unauthenticated(rpc: string): GeminiError {
  return googleError(
    401,
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
        metadata: { service: SERVICE, method: `google.ai.generativelanguage.v1beta.${rpc}` },
      },
    ],
  );
}

const RPC_NAMES: Record<string, string> = {
  generateContent: 'GenerativeService.GenerateContent',
  streamGenerateContent: 'GenerativeService.StreamGenerateContent',
  countTokens: 'GenerativeService.CountTokens',
  batchEmbedContents: 'GenerativeService.BatchEmbedContents',
  list: 'ModelService.ListModels',
};

/** The `error-<status>` models: status and body as Google sends them. */
function modelError(model: string, method: string): GeminiError | undefined {
  switch (model) {
    case 'error-400':
      return invalidArgument('Request contains an invalid argument.');
    case 'error-401':
      return unauthenticated(RPC_NAMES[method] ?? RPC_NAMES.generateContent!);
    case 'error-403':
      return googleError(403, 'The caller does not have permission');
    case 'error-404':
      return googleError(
        404,
        `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
      );
    case 'error-429':
      // No Retry-After header: Google says how long to wait in a google.rpc.RetryInfo detail.
      return googleError(
        429,
        `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: ${model}\nPlease retry in 7s.`,
        [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [
              {
                quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
                quotaDimensions: { location: 'global', model },
                quotaValue: '10',
              },
            ],
          },
          {
            '@type': 'type.googleapis.com/google.rpc.Help',
            links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
          },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' },
        ],
      );
    case 'error-500':
      return googleError(500, 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    case 'error-503':
      return googleError(503, 'The model is overloaded. Please try again later.');
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Request validation (what the real API refuses)
// ---------------------------------------------------------------------------------------------

/** Proto JSON parsing accepts a field's lowerCamelCase name and its original snake_case name. */
function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Reads a field by its JSON name, falling back to the snake_case spelling. */
function field(obj: unknown, name: string): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  const o = obj as Record<string, unknown>;
  if (name in o) return o[name];
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return o[snake];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const REQUEST_FIELDS = new Set([
  'model',
  'contents',
  'systemInstruction',
  'tools',
  'toolConfig',
  'safetySettings',
  'generationConfig',
  'cachedContent',
  'serviceTier',
  'store',
]);
const CONTENT_FIELDS = new Set(['role', 'parts']);
const PART_FIELDS = new Set([
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
  'thought',
  'thoughtSignature',
  'videoMetadata',
  'partMetadata',
  'mediaResolution',
]);
const FUNCTION_DECLARATION_FIELDS = new Set([
  'name',
  'description',
  'behavior',
  'parameters',
  'parametersJsonSchema',
  'response',
  'responseJsonSchema',
]);
/** google.ai.generativelanguage.v1beta.Schema: the OpenAPI 3.0 subset `parameters` accepts. */
const SCHEMA_FIELDS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
]);

function unknownNames(obj: Record<string, unknown>, allowed: Set<string>, at: string | undefined, out: string[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.has(camel(key))) continue;
    out.push(
      at === undefined
        ? `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`
        : `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`,
    );
  }
}

/** Walks a `parameters` Schema the way the proto parser does; map entries are `properties[i].value`. */
function checkSchema(node: unknown, at: string, out: string[]): void {
  if (!isObject(node)) {
    out.push(`Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema), ${JSON.stringify(node)}`);
    return;
  }
  unknownNames(node, SCHEMA_FIELDS, at, out);
  const type = node.type;
  if (type !== undefined && typeof type !== 'string') {
    out.push(`Invalid value at '${at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(type)}`);
  }
  const enumValues = node.enum;
  if (Array.isArray(enumValues)) {
    enumValues.forEach((v, i) => {
      if (typeof v !== 'string') out.push(`Invalid value at '${at}.enum[${i}]' (TYPE_STRING), ${JSON.stringify(v)}`);
    });
  }
  const properties = node.properties;
  if (isObject(properties)) {
    Object.values(properties).forEach((sub, i) => checkSchema(sub, `${at}.properties[${i}].value`, out));
  }
  if ('items' in node) checkSchema(node.items, `${at}.items`, out);
  const anyOf = field(node, 'anyOf');
  if (Array.isArray(anyOf)) anyOf.forEach((sub, i) => checkSchema(sub, `${at}.any_of[${i}]`, out));
}

/** Parse-level problems ("Invalid JSON payload received..."), all of them, as Google lists them. */
function payloadProblems(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  unknownNames(body, REQUEST_FIELDS, undefined, out);

  const contents = field(body, 'contents');
  if (Array.isArray(contents)) {
    contents.forEach((content, ci) => {
      if (!isObject(content)) return;
      unknownNames(content, CONTENT_FIELDS, `contents[${ci}]`, out);
      const parts = field(content, 'parts');
      if (!Array.isArray(parts)) return;
      parts.forEach((part, pi) => {
        if (!isObject(part)) return;
        unknownNames(part, PART_FIELDS, `contents[${ci}].parts[${pi}]`, out);
        const response = field(field(part, 'functionResponse'), 'response');
        if (response !== undefined && !isObject(response)) {
          out.push(
            `Invalid value at 'contents[${ci}].parts[${pi}].function_response.response' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(response)}`,
          );
        }
      });
    });
  }

  const tools = field(body, 'tools');
  if (Array.isArray(tools)) {
    tools.forEach((tool, ti) => {
      const declarations = field(tool, 'functionDeclarations');
      if (!Array.isArray(declarations)) return;
      declarations.forEach((decl, di) => {
        const at = `tools[${ti}].function_declarations[${di}]`;
        if (!isObject(decl)) return;
        unknownNames(decl, FUNCTION_DECLARATION_FIELDS, at, out);
        if ('parameters' in decl) checkSchema(decl.parameters, `${at}.parameters`, out);
      });
    });
  }
  return out;
}

/** Semantic checks done after parsing; Google prefixes these with `* GenerateContentRequest.`. */
function semanticProblem(body: Record<string, unknown>, rpc: string): string | undefined {
  const contents = field(body, 'contents');
  if (!Array.isArray(contents) || contents.length === 0) return `* ${rpc}.contents: contents is not specified\n`;
  for (let ci = 0; ci < contents.length; ci++) {
    const content = contents[ci];
    const role = field(content, 'role');
    // An omitted role is taken as `user`; anything but `user`/`model` is refused.
    if (role === 'system') return 'Content with system role is not supported.';
    if (role !== undefined && role !== '' && role !== 'user' && role !== 'model') return 'Please use a valid role: user, model.';
    const parts = field(content, 'parts');
    if (!Array.isArray(parts) || parts.length === 0) return `* ${rpc}.contents[${ci}].parts: contents.parts must not be empty.\n`;
    for (let pi = 0; pi < parts.length; pi++) {
      const response = field(parts[pi], 'functionResponse');
      if (response === undefined) continue;
      const at = `${rpc}.contents[${ci}].parts[${pi}].function_response`;
      const name = field(response, 'name');
      if (typeof name !== 'string' || name === '') return `* ${at}.name: Name cannot be empty.\n`;
      if (!isObject(field(response, 'response'))) return `* ${at}.response: response is not specified\n`;
    }
  }
  const tools = field(body, 'tools');
  if (Array.isArray(tools)) {
    for (let ti = 0; ti < tools.length; ti++) {
      const declarations = field(tools[ti], 'functionDeclarations');
      if (!Array.isArray(declarations)) continue;
      for (let di = 0; di < declarations.length; di++) {
        const decl = declarations[di];
        const at = `${rpc}.tools[${ti}].function_declarations[${di}]`;
        const name = field(decl, 'name');
        if (typeof name !== 'string' || name === '') return `* ${at}.name: Name cannot be empty.\n`;
        if (field(decl, 'parameters') !== undefined && field(decl, 'parametersJsonSchema') !== undefined) {
          return `* ${at}.parameters_json_schema: parameters and parameters_json_schema are mutually exclusive.\n`;
        }
      }
    }
  }
  return undefined;
}

function validateGenerateRequest(body: Record<string, unknown>): GeminiError | undefined {
  const payload = payloadProblems(body);
  if (payload.length > 0) return invalidArgument(payload.join('\n'));
  const semantic = semanticProblem(body, 'GenerateContentRequest');
  return semantic === undefined ? undefined : invalidArgument(semantic);
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** Gemini response ids look like `jHIPaZKcEoOR0-kPxMfy0Ag`: 23 base64url characters. */
function responseId(): string {
  return randomBytes(18).toString('base64url').slice(0, 23);
}

/** Splits text into word-ish tokens (leading space kept); joins back exactly. */
/** Splits text into `n` contiguous, non-empty pieces along word boundaries (fewer only if too short). */
function splitWords(text: string, n: number): string[] {
  const tokens = tokenize(text);
  if (tokens.length < n) return tokens.length ? tokens : [text];
  const size = Math.ceil(tokens.length / n);
  const pieces: string[] = [];
  for (let i = 0; i < tokens.length; i += size) pieces.push(tokens.slice(i, i + size).join(''));
  return pieces;
}

function contentsOf(body: Record<string, unknown>): unknown[] {
  const contents = field(body, 'contents');
  return Array.isArray(contents) ? contents : [];
}

function partsOf(content: unknown): unknown[] {
  const parts = field(content, 'parts');
  return Array.isArray(parts) ? parts : [];
}

/** The last content with role `user` (an omitted role counts as `user`). */
function lastUserContent(body: Record<string, unknown>): unknown {
  const contents = contentsOf(body);
  for (let i = contents.length - 1; i >= 0; i--) {
    const role = field(contents[i], 'role');
    if (role === undefined || role === '' || role === 'user') return contents[i];
  }
  return undefined;
}

/** Text parts of the last user content joined with a single space (functionResponse parts skipped). */
function lastUserText(body: Record<string, unknown>): string {
  return partsOf(lastUserContent(body))
    .map((p) => field(p, 'text'))
    .filter((t): t is string => typeof t === 'string')
    .join(' ');
}

/** Images (inline or by URI) in the last user content. */
function lastUserImages(body: Record<string, unknown>): number {
  return partsOf(lastUserContent(body)).filter((p) => field(p, 'inlineData') !== undefined || field(p, 'fileData') !== undefined).length;
}

function hasFunctionResponse(body: Record<string, unknown>): boolean {
  return contentsOf(body).some((c) => partsOf(c).some((p) => field(p, 'functionResponse') !== undefined));
}

/** Headers Google's front end puts on every answer. */
const GOOGLE_HEADERS = {
  vary: 'Origin, X-Origin, Referer',
  server: 'scaffolding on HTTPServer2',
  'x-xss-protection': '0',
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'server-timing': 'gfet4t7; dur=3',
};

const JSON_TYPE = 'application/json; charset=UTF-8';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // Google pretty-prints its JSON answers.
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...GOOGLE_HEADERS });
  res.end(text);
}

/** Google's own 404 page for a URL it does not serve. */
function sendNotFoundPage(res: ServerResponse, path: string): void {
  const html = `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${path.replace(/[<>&]/g, '')}</code> was not found on this server.  <ins>That’s all we know.</ins>\n`;
  res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8', 'content-length': Buffer.byteLength(html), ...GOOGLE_HEADERS });
  res.end(html);
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

const WEATHER_CALL = { id: 'fc_weather_1', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } };
const TIME_CALL = { id: 'fc_time_2', name: 'get_time', args: { timezone: 'Europe/Paris' } };
const THOUGHT_SIGNATURE = 'sig-gemini-1';

const NEGLIGIBLE_RATINGS: SafetyRating[] = [
  { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
];
const DANGEROUS_BLOCKED: SafetyRating[] = [
  ...NEGLIGIBLE_RATINGS,
  { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
];

/** A plain text answer, streamed in three word-aligned pieces. */
function textPlan(text: string, usage: UsageCounts, chunkDelayMs: number): Plan {
  return {
    parts: [{ text }],
    chunks: splitWords(text, 3).map((piece) => [{ text: piece }]),
    finishReason: 'STOP',
    usage,
    chunkDelayMs,
  };
}

/** Decides what the "model" answers; behaviour is keyed on the model name. */
function plan(model: string, body: Record<string, unknown>): Plan {
  const chunkDelayMs = model === 'slow-stream' ? 100 : 0;

  if (model === 'tools') {
    if (hasFunctionResponse(body)) return textPlan('The weather in Paris is 18°C.', { prompt: 60, candidates: 10 }, chunkDelayMs);
    // Gemini has no tool-call finish reason; each call arrives whole, never split across chunks.
    const weather = { functionCall: WEATHER_CALL };
    const time = { functionCall: TIME_CALL };
    return {
      parts: [weather, time],
      chunks: [[weather], [time]],
      finishReason: 'STOP',
      finishMessage: 'Model generated function call(s).',
      usage: { prompt: 40, candidates: 20 },
      chunkDelayMs,
    };
  }

  if (model === 'reasoner') {
    const thought = 'Let me think step by step.';
    const answer = 'The answer is 42.';
    // Without function calls the signature rides on the last part; a stream sends it last, on an
    // empty text part of the finishing chunk.
    return {
      parts: [
        { text: thought, thought: true },
        { text: answer, thoughtSignature: THOUGHT_SIGNATURE },
      ],
      chunks: [
        ...splitWords(thought, 2).map((piece) => [{ text: piece, thought: true }]),
        ...splitWords(answer, 2).map((piece) => [{ text: piece }]),
        [{ text: '', thoughtSignature: THOUGHT_SIGNATURE }],
      ],
      finishReason: 'STOP',
      usage: { prompt: 30, cached: 10, candidates: 15, thoughts: 35 },
      chunkDelayMs,
    };
  }

  if (model === 'vision') {
    return textPlan(`I see ${lastUserImages(body)} image(s).`, { prompt: 12, candidates: 9 }, chunkDelayMs);
  }

  if (model === 'blocked') {
    return {
      parts: [],
      chunks: [],
      finishReason: 'SAFETY',
      promptFeedback: { blockReason: 'SAFETY', safetyRatings: DANGEROUS_BLOCKED },
      usage: { prompt: 12, candidates: 0 },
      chunkDelayMs,
    };
  }

  if (model === 'unsafe-answer') {
    return { parts: [], chunks: [[]], finishReason: 'SAFETY', safetyRatings: DANGEROUS_BLOCKED, usage: { prompt: 12, candidates: 0 }, chunkDelayMs };
  }

  return textPlan(`Hello from ${model}! You said: ${lastUserText(body)}`, { prompt: 12, candidates: 9 }, chunkDelayMs);
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/** usageMetadata; partial counts (for a stream chunk) leave out counters still at zero, as Gemini does. */
function usageMetadata(prompt: number, candidates: number, thoughts: number, cached: number | undefined): Record<string, unknown> {
  return {
    promptTokenCount: prompt,
    ...(candidates > 0 ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: prompt + candidates + thoughts,
    ...(cached ? { cachedContentTokenCount: cached } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(cached ? { cacheTokensDetails: [{ modality: 'TEXT', tokenCount: cached }] } : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function finalUsage(u: UsageCounts): Record<string, unknown> {
  return usageMetadata(u.prompt, u.candidates, u.thoughts ?? 0, u.cached);
}

interface Envelope {
  model: string;
  responseId: string;
}

function candidate(content: Part[] | undefined, p: Plan, finished: boolean): Record<string, unknown> {
  return {
    ...(content ? { content: { parts: content, role: 'model' } } : {}),
    ...(finished ? { finishReason: p.finishReason } : {}),
    index: 0,
    ...(finished && p.safetyRatings ? { safetyRatings: p.safetyRatings } : {}),
    ...(finished && p.finishMessage ? { finishMessage: p.finishMessage } : {}),
  };
}

function responseBody(env: Envelope, p: Plan): Record<string, unknown> {
  if (p.promptFeedback) {
    return { promptFeedback: p.promptFeedback, usageMetadata: finalUsage(p.usage), modelVersion: env.model, responseId: env.responseId };
  }
  return {
    candidates: [candidate(p.parts.length ? p.parts : undefined, p, true)],
    usageMetadata: finalUsage(p.usage),
    modelVersion: env.model,
    responseId: env.responseId,
  };
}

/** How much a part "weighs" when cumulative token counts are spread across chunks. */
function weight(part: Part): number {
  if (typeof part.text === 'string') return part.text.length;
  if (part.functionCall) return JSON.stringify(part.functionCall).length;
  return 0;
}

/** Every chunk of a stream: each carries cumulative usage, the last one the full counts and finishReason. */
function streamChunks(env: Envelope, p: Plan): Array<Record<string, unknown>> {
  if (p.promptFeedback) return [responseBody(env, p)];
  const isThought = (part: Part) => part.thought === true;
  const totalThought = p.chunks.flat().filter(isThought).reduce((s, part) => s + weight(part), 0);
  const totalOutput = p.chunks.flat().filter((part) => !isThought(part)).reduce((s, part) => s + weight(part), 0);
  let thoughtSoFar = 0;
  let outputSoFar = 0;
  return p.chunks.map((parts, i) => {
    const last = i === p.chunks.length - 1;
    for (const part of parts) {
      if (isThought(part)) thoughtSoFar += weight(part);
      else outputSoFar += weight(part);
    }
    const usage = last
      ? finalUsage(p.usage)
      : usageMetadata(
          p.usage.prompt,
          totalOutput ? Math.floor((p.usage.candidates * outputSoFar) / totalOutput) : 0,
          totalThought ? Math.floor(((p.usage.thoughts ?? 0) * thoughtSoFar) / totalThought) : 0,
          p.usage.cached,
        );
    return {
      candidates: [candidate(parts.length ? parts : undefined, p, last)],
      usageMetadata: usage,
      modelVersion: env.model,
      responseId: env.responseId,
    };
  });
}

/** A stream in either framing: SSE (`?alt=sse`) or the JSON array written element by element. */
class StreamWriter {
  private first = true;

  constructor(
    private readonly res: ServerResponse,
    private readonly sse: boolean,
  ) {}

  start(): void {
    this.res.writeHead(200, { 'content-type': this.sse ? 'text/event-stream' : JSON_TYPE, ...GOOGLE_HEADERS });
  }

  /** The bytes for one element (Google frames SSE events with CRLF CRLF and sends no [DONE]). */
  frame(chunk: unknown): string {
    if (this.sse) return `data: ${JSON.stringify(chunk)}\r\n\r\n`;
    const text = (this.first ? '[' : '\n,\r\n') + JSON.stringify(chunk, null, 2);
    this.first = false;
    return text;
  }

  write(chunk: unknown): void {
    this.res.write(this.frame(chunk));
  }

  end(): void {
    this.res.end(this.sse ? undefined : this.first ? '[]' : '\n]');
  }
}

async function stream(res: ServerResponse, sse: boolean, chunks: Array<Record<string, unknown>>, delayMs: number): Promise<void> {
  const writer = new StreamWriter(res, sse);
  writer.start();
  for (const chunk of chunks) {
    if (res.destroyed) return;
    writer.write(chunk);
    if (delayMs > 0) await sleep(delayMs, res);
  }
  if (!res.destroyed) writer.end();
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const MODELS = [
  { id: 'gemini-2.5-flash', displayName: 'Gemini 2.5 Flash', thinking: true },
  { id: 'gemini-2.5-pro', displayName: 'Gemini 2.5 Pro', thinking: true },
  { id: 'gemini-2.0-flash', displayName: 'Gemini 2.0 Flash', thinking: false },
  { id: 'tools', displayName: 'Tools', thinking: false },
  { id: 'reasoner', displayName: 'Reasoner', thinking: true },
  { id: 'vision', displayName: 'Vision', thinking: false },
];

function listModelsBody(): Record<string, unknown> {
  return {
    models: MODELS.map((m) => ({
      name: `models/${m.id}`,
      version: '001',
      displayName: m.displayName,
      description: `Loopback stand-in for ${m.displayName}`,
      inputTokenLimit: 1048576,
      outputTokenLimit: 65536,
      supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
      temperature: 1,
      topP: 0.95,
      topK: 64,
      maxTemperature: 2,
      thinking: m.thinking,
    })),
  };
}

/** Google reads the path and the query (`alt`, `key`) from the URL. */
function urlOf(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://127.0.0.1');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
}

/** `/v1beta/models/{model}:{method}` → model and method; undefined for any other path. */
function parseModelPath(path: string): { model: string; method: string } | undefined {
  const m = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (!m) return undefined;
  let model: string;
  try {
    model = decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
  return { model, method: m[2]! };
}

/** Counts whitespace-separated words of every text part: a stable stand-in for a tokenizer. */
function countWords(contents: unknown[]): number {
  let n = 0;
  for (const c of contents) {
    for (const p of partsOf(c)) {
      const t = field(p, 'text');
      if (typeof t === 'string') n += t.split(/\s+/).filter(Boolean).length;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Embeddings (models/{model}:batchEmbedContents)
// ---------------------------------------------------------------------------------------------

/** gemini-embedding-001's default size; `outputDimensionality` truncates it. */
export const GEMINI_EMBEDDING_DIMENSIONS = 3072;

/**
 * A stable vector per text and position: the first `n` values are the same whatever
 * outputDimensionality asks for, as Google truncates (it does not re-project) smaller sizes.
 */
export function geminiEmbedding(text: string, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, d) => {
    let h = 0x811c9dc5 ^ d;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return Math.round((((h >>> 0) / 0xffffffff) * 2 - 1) * 1e6) / 1e6;
  });
}

/**
 * `batchEmbedContents`: `{requests: [{model: "models/…", content: {parts: [{text}]},
 * outputDimensionality?, taskType?, title?}]}` → `{embeddings: [{values: […]}]}`, in order. No
 * token counts, as Google sends none. Only models whose name says `embedding` embed.
 */
function batchEmbedBody(model: string, body: Record<string, unknown>): { ok: Record<string, unknown> } | { error: GeminiError } {
  if (!model.includes('embedding')) {
    return { error: googleError(404, `models/${model} is not found for API version v1beta, or is not supported for batchEmbedContents. Call ListModels to see the list of available models and their supported methods.`) };
  }
  const list = field(body, 'requests');
  if (!Array.isArray(list) || list.length === 0) return { error: invalidArgument('* BatchEmbedContentsRequest.requests: requests must not be empty') };
  if (list.length > 100) return { error: invalidArgument('* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch') };
  const embeddings: { values: number[] }[] = [];
  for (const [i, r] of list.entries()) {
    const at = `BatchEmbedContentsRequest.requests[${i}]`;
    if (!isObject(r)) return { error: invalidArgument(`* ${at}: must be an EmbedContentRequest`) };
    if (field(r, 'model') !== `models/${model}`) return { error: invalidArgument(`* ${at}.model: the model of every request must be the batch's model, models/${model}`) };
    const parts = partsOf(field(r, 'content'));
    const texts = parts.map((p) => field(p, 'text')).filter((t): t is string => typeof t === 'string');
    if (texts.length === 0) return { error: invalidArgument(`* ${at}.content: must have a text part`) };
    const dims = field(r, 'outputDimensionality');
    if (dims !== undefined && (!Number.isInteger(dims) || (dims as number) < 1 || (dims as number) > GEMINI_EMBEDDING_DIMENSIONS)) {
      return { error: invalidArgument(`* ${at}.output_dimensionality: must be between 1 and ${GEMINI_EMBEDDING_DIMENSIONS}`) };
    }
    embeddings.push({ values: geminiEmbedding(texts.join(''), (dims as number | undefined) ?? GEMINI_EMBEDDING_DIMENSIONS) });
  }
  return { ok: { embeddings } };
}

export async function startGeminiUpstream(opts: GeminiUpstreamOptions = {}): Promise<GeminiUpstream> {
  const slowFirstByteMs = opts.slowFirstByteMs ?? 1500;

  async function handleGenerate(
    res: ServerResponse,
    model: string,
    method: 'generateContent' | 'streamGenerateContent',
    sse: boolean,
    body: Record<string, unknown>,
    markCut: () => void,
    sendError: (e: GeminiError) => void,
  ): Promise<void> {
    const invalid = validateGenerateRequest(body);
    if (invalid) return sendError(invalid);

    const failure = modelError(model, method);
    if (failure) return sendError(failure);

    const streaming = method === 'streamGenerateContent';
    const env: Envelope = { model, responseId: responseId() };

    switch (model) {
      case 'hang':
        return; // never answer; the 'close' listener counts the abort
      case 'slow':
        await sleep(slowFirstByteMs, res);
        if (res.destroyed) return;
        break;
      case 'garbage':
        if (streaming && sse) {
          res.writeHead(200, { 'content-type': 'text/event-stream', ...GOOGLE_HEADERS });
          res.end('data: {not json\r\n\r\n');
        } else if (streaming) {
          res.writeHead(200, { 'content-type': JSON_TYPE, ...GOOGLE_HEADERS });
          res.end('[{not json');
        } else {
          res.writeHead(200, { 'content-type': JSON_TYPE, ...GOOGLE_HEADERS });
          res.end('<html>oops</html>');
        }
        return;
      case 'cut': {
        markCut();
        if (streaming) {
          const p = textPlan('Partial answer', { prompt: 12, candidates: 9 }, 0);
          p.chunks = [[{ text: 'Partial ' }], [{ text: 'answer' }], [{ text: ' never arrives.' }]];
          const [first, second] = streamChunks(env, p);
          const writer = new StreamWriter(res, sse);
          writer.start();
          writer.write(first);
          writeThenDestroy(res, writer.frame(second));
          return;
        }
        // Promise the whole body, deliver half: the client sees a premature close, not a short JSON.
        const text = JSON.stringify(responseBody(env, plan(model, body)), null, 2);
        res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...GOOGLE_HEADERS });
        writeThenDestroy(res, text.slice(0, Math.floor(text.length / 2)));
        return;
      }
    }

    const p = plan(model, body);
    if (streaming) return stream(res, sse, streamChunks(env, p), p.chunkDelayMs);
    if (p.chunkDelayMs > 0) {
      // Non-streaming slow-stream takes as long as its stream would have.
      await sleep(p.chunkDelayMs * Math.max(1, p.chunks.length), res);
      if (res.destroyed) return;
    }
    sendJson(res, 200, responseBody(env, p));
  }

  async function handleCountTokens(res: ServerResponse, model: string, body: Record<string, unknown>, sendError: (e: GeminiError) => void): Promise<void> {
    const failure = modelError(model, 'countTokens');
    if (failure) return sendError(failure);
    if (model === 'hang') return;
    if (model === 'slow') {
      await sleep(slowFirstByteMs, res);
      if (res.destroyed) return;
    }
    // Either `contents` or a whole `generateContentRequest`, never both.
    const inner = field(body, 'generateContentRequest');
    const contents = isObject(inner) ? contentsOf(inner) : contentsOf(body);
    const tokens = countWords(contents);
    sendJson(res, 200, { totalTokens: tokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: tokens }] });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, { record, body, badJson, markCut }: Incoming<GeminiRecordedRequest>): Promise<void> {
    const url = urlOf(req);
    const path = record.path;
    const target = parseModelPath(path);
    const isList = path === '/v1beta/models';
    // streamGenerateContent without alt=sse is one JSON array, errors included (`[{"error": ...}]`).
    const arrayErrors = target?.method === 'streamGenerateContent' && url.searchParams.get('alt') !== 'sse';
    const sendError = (e: GeminiError) => sendJson(res, e.status, arrayErrors ? [e.body] : e.body);

    if (opts.apiKey !== undefined) {
      const key = header(req, 'x-goog-api-key') ?? url.searchParams.get('key') ?? undefined;
      if (key === undefined) {
        const bearer = header(req, 'authorization');
        if (bearer !== undefined && /^Bearer\s/i.test(bearer)) {
          return sendError(unauthenticated(RPC_NAMES[isList ? 'list' : (target?.method ?? '')] ?? RPC_NAMES.generateContent!));
        }
        return sendError(NO_KEY);
      }
      if (key !== opts.apiKey) return sendError(API_KEY_INVALID);
    }

    if (isList && record.method === 'GET') return sendJson(res, 200, listModelsBody());

    const supported = ['generateContent', 'streamGenerateContent', 'countTokens', 'batchEmbedContents'];
    if (!target || record.method !== 'POST' || !supported.includes(target.method)) return sendNotFoundPage(res, path);

    if (badJson !== undefined) return sendError(invalidArgument('Invalid JSON payload received. Unexpected token.'));
    if (body === undefined) body = {};
    if (!isObject(body)) return sendError(invalidArgument('Invalid JSON payload received. Unknown name "": Root element must be a message.'));

    if (target.method === 'countTokens') return handleCountTokens(res, target.model, body, sendError);
    if (target.method === 'batchEmbedContents') {
      const failure = modelError(target.model, 'batchEmbedContents');
      if (failure) return sendError(failure);
      const r = batchEmbedBody(target.model, body);
      return 'error' in r ? sendError(r.error) : sendJson(res, 200, r.ok);
    }
    const sse = url.searchParams.get('alt') === 'sse';
    return handleGenerate(res, target.model, target.method as 'generateContent' | 'streamGenerateContent', sse, body, markCut, sendError);
  }

  return startLoopback({
    basePath: '/v1beta',
    record: (req): GeminiRecordedRequest => {
      const url = urlOf(req);
      return { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: { ...req.headers }, body: undefined };
    },
    handle,
    fixtureError: (res, message) => sendJson(res, 500, googleError(500, message).body),
  });
}
