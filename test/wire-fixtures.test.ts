/**
 * Recorded wire examples (test/fixtures/<format>/, see its README) read by both sides of the hub:
 * the canonical path (the provider Model's stream over a loopback server that replays the
 * recorded bytes: wire → ChatEvents, metered by gateway/outcome.ts `noteEvent` as the routes do)
 * and the passthrough observers (the relay's meter). Every recorded stream goes through both, and
 * they must agree on usage, first-token presence, completion and the output text kept for
 * counting; every complete stream cut after its first token reads as incomplete to both.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../src/core/collect.js';
import type { Collected } from '../src/core/collect.js';
import { HubError } from '../src/core/errors.js';
import type { Model, PassthroughMeter } from '../src/core/model.js';
import type { ChatRequest, Usage } from '../src/core/types.js';
import { newOutcome, noteEvent } from '../src/gateway/outcome.js';
import { AnthropicProvider } from '../src/providers/anthropic/provider.js';
import { MessagesObserver, readMessage } from '../src/providers/anthropic/passthrough.js';
import { GeminiProvider } from '../src/providers/gemini/provider.js';
import { ChatObserver, readCompletion } from '../src/providers/openai-compatible/passthrough.js';
import { OpenAICompatibleProvider } from '../src/providers/openai-compatible/provider.js';
import { readResponse, ResponsesObserver } from '../src/providers/openai-compatible/responses-passthrough.js';
import type { StreamObserver } from '../src/providers/passthrough.js';
import { parseSSEEvent, SSESplitter } from '../src/providers/sse.js';

const fixture = (format: string, name: string) => readFileSync(new URL(`./fixtures/${format}/${name}`, import.meta.url), 'utf8');
const streams = (format: string) => readdirSync(new URL(`./fixtures/${format}/`, import.meta.url)).filter((f) => f.endsWith('.sse')).sort();

/** The event blocks of a recorded stream, split as the relay splits them. */
function blocks(text: string): string[] {
  const s = new SSESplitter();
  const out = s.push(text);
  const rest = s.rest();
  return rest ? [...out, rest] : out;
}

/** The stream cut right after its first block with content (as the loopback `cut` models do). */
function cut(bs: string[], content: RegExp): string[] {
  const i = bs.findIndex((b) => content.test(b));
  expect(i).toBeGreaterThanOrEqual(0);
  expect(i).toBeLessThan(bs.length - 1);
  return bs.slice(0, i + 1);
}

const join = (bs: string[]) => bs.map((b) => `${b}\n\n`).join('');

/** Runs blocks through an observer; returns what it passed on and what it threw, if anything. */
function observe(o: StreamObserver, bs: string[]): { sent: string; error: unknown } {
  let sent = '';
  try {
    for (const b of bs) sent += o.onBlock(b);
  } catch (err) {
    return { sent, error: err };
  }
  return { sent, error: undefined };
}

// ---------------------------------------------------------------------------------------------
// The canonical side: a loopback server replays the bytes of one recorded stream to a provider.
// ---------------------------------------------------------------------------------------------

let server: Server;
let origin = '';
/** What the loopback server answers next: the recorded bytes, as an event stream or a JSON body. */
let serving = { body: '', type: 'text/event-stream' };

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': serving.type });
      res.end(serving.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const timeouts = { connectMs: 2000, firstByteMs: 2000, idleMs: 2000 };
const PROVIDERS: Record<string, () => Model> = {
  'openai-chat': () => new OpenAICompatibleProvider({ id: 'up', baseURL: `${origin}/v1`, apiKey: 'k', timeouts, maxTokensField: 'max_tokens' }),
  'anthropic-messages': () => new AnthropicProvider({ id: 'up', baseURL: origin, apiKey: 'k', timeouts }),
  gemini: () => new GeminiProvider({ id: 'up', baseURL: `${origin}/v1beta`, apiKey: 'k', timeouts }),
};

const REQUEST: ChatRequest = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi there' }] }] };

interface Canonical {
  c: Collected;
  /** The canonical path's meter (what the routes record): usage, first token, output text. */
  out: ReturnType<typeof newOutcome>;
  error: HubError | undefined;
}

/** The recorded bytes through the provider Model, as the canonical routes read a stream. */
async function canonical(format: string, body: string, type = 'text/event-stream'): Promise<Canonical> {
  serving = { body, type };
  const c = new Collector();
  const out = newOutcome();
  let error: HubError | undefined;
  try {
    for await (const e of PROVIDERS[format]!().stream(REQUEST, AbortSignal.timeout(5000))) {
      c.add(e);
      noteEvent(out, e);
    }
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    error = err as HubError;
  }
  return { c: c.result(), out, error };
}

// ---------------------------------------------------------------------------------------------
// What each recording holds (test/upstreams/SCENARIOS.md), and how each must read.
// ---------------------------------------------------------------------------------------------

interface Expected {
  /** complete: ends with its end marker; cut: the connection closed before it; error: an in-band error event. */
  readonly ends: 'complete' | 'cut' | 'error';
  readonly text?: string;
  readonly reasoning?: string;
  /** The reasoning block's opaque signature (Anthropic thinking, Gemini thoughtSignature). */
  readonly signature?: string;
  readonly tools?: readonly string[];
  readonly usage?: Usage;
  /** The error's kind and message, for `error`. */
  readonly error?: { kind: string; message: RegExp };
}

const HELLO = (model: string) => `Hello from ${model}! You said: hi there`;
const REASONED = { reasoning: 'Let me think step by step.', text: 'The answer is 42.' };
const TOOLS = ['get_weather', 'get_time'];

const EXPECTED: Record<string, Record<string, Expected>> = {
  'openai-chat': {
    'text.sse': { ends: 'complete', text: HELLO('gpt-test'), usage: { inputTokens: 12, outputTokens: 9 } },
    'tools.sse': { ends: 'complete', tools: TOOLS, usage: { inputTokens: 40, outputTokens: 20 } },
    'reasoning.sse': { ends: 'complete', ...REASONED, usage: { inputTokens: 30, outputTokens: 50, cachedInputTokens: 10, reasoningTokens: 35 } },
    'cut.sse': { ends: 'cut', text: 'Partial answer' },
    'error.sse': { ends: 'error', text: 'Hello', error: { kind: 'upstream', message: /failed mid-stream: The server had an error/ } },
  },
  'anthropic-messages': {
    'text.sse': { ends: 'complete', text: HELLO('claude-sonnet-4-5'), usage: { inputTokens: 12, outputTokens: 9, cachedInputTokens: 0, cacheWriteTokens: 0 } },
    'tools.sse': { ends: 'complete', tools: TOOLS, usage: { inputTokens: 40, outputTokens: 20, cachedInputTokens: 0, cacheWriteTokens: 0 } },
    'thinking.sse': { ends: 'complete', ...REASONED, signature: 'sig-reasoner-1', usage: { inputTokens: 30, outputTokens: 50, cachedInputTokens: 10, cacheWriteTokens: 0 } },
    'cut.sse': { ends: 'cut', text: 'Partial answer' },
    'error.sse': { ends: 'error', error: { kind: 'overloaded', message: /Overloaded/ } },
    // Anthropic's documented basic stream: JSON with spaces, message_delta carrying output_tokens only.
    'docs-basic.sse': { ends: 'complete', text: 'Hello!', usage: { inputTokens: 25, outputTokens: 15 } },
  },
  gemini: {
    'text.sse': { ends: 'complete', text: HELLO('gemini-2.5-flash'), usage: { inputTokens: 12, outputTokens: 9 } },
    'tools.sse': { ends: 'complete', tools: TOOLS, usage: { inputTokens: 40, outputTokens: 20 } },
    'thinking.sse': { ends: 'complete', ...REASONED, signature: 'sig-gemini-1', usage: { inputTokens: 30, outputTokens: 50, cachedInputTokens: 10, reasoningTokens: 35 } },
    'cut.sse': { ends: 'cut', text: 'Partial answer' },
    'error.sse': { ends: 'error', text: 'Hello from gemini-2.5-flash!', error: { kind: 'overloaded', message: /overloaded/ } },
  },
};

/** The block after which a stream has its first token, per format (where a cut is made). */
const CONTENT: Record<string, RegExp> = {
  'openai-chat': /"(content|reasoning_content)":"[^"]+"|"tool_calls"/,
  'anthropic-messages': /^event: content_block_delta/,
  gemini: /"parts":\[\{"(text":"[^"]|functionCall)/,
};

/** The canonical answer matches the recording's script. */
function expectScript(got: Canonical, want: Expected) {
  const choice = got.c.choices[0];
  expect(choice?.text ?? '').toBe(want.text ?? '');
  expect((choice?.reasoning ?? []).map((r) => r.text).join('')).toBe(want.reasoning ?? '');
  if (want.signature) expect(JSON.stringify(choice!.reasoning.map((r) => r.providerMetadata))).toContain(want.signature);
  expect((choice?.toolCalls ?? []).map((t) => t.name)).toEqual(want.tools ?? []);
  if (want.tools) for (const t of choice!.toolCalls) expect(JSON.parse(t.arguments)).toBeTypeOf('object');
  if (want.ends === 'complete') {
    expect(got.error).toBeUndefined();
    expect(got.c.usage).toEqual(want.usage);
  } else {
    expect(got.error?.kind).toBe(want.error?.kind ?? 'upstream');
    expect(got.error?.message).toMatch(want.error?.message ?? /ended the stream before it was complete/);
  }
}

// ---------------------------------------------------------------------------------------------
// Both readers of each format.
// ---------------------------------------------------------------------------------------------

interface Relay {
  /** The observer of the format's same-format relay; Gemini has none (no client speaks it). */
  readonly observer?: () => StreamObserver;
  /** Whether the observer keeps the output text for counting. */
  readonly keepsOutput?: boolean;
  /** The whole-body reader, for text.json. */
  readonly whole?: (text: string, provider: string) => { text: string; usage: Usage | undefined };
}

const RELAYS: Record<string, Relay> = {
  'openai-chat': { observer: () => new ChatObserver('up', true), keepsOutput: true, whole: readCompletion },
  'anthropic-messages': { observer: () => new MessagesObserver('up'), keepsOutput: true, whole: readMessage },
  gemini: {},
};

/**
 * The observer passed every block on as it came, but for a usage chunk it normalized (DeepSeek's
 * cache fields also written as OpenAI's `prompt_tokens_details`): that one only gains fields.
 */
function expectRelayed(sent: string, bs: string[]) {
  const out = blocks(sent);
  expect(out).toHaveLength(bs.length);
  bs.forEach((b, i) => {
    if (out[i] === b) return;
    const was = JSON.parse(parseSSEEvent(b)!.data);
    expect(was.usage).toBeTruthy();
    expect(JSON.parse(parseSSEEvent(out[i]!)!.data)).toMatchObject(was);
  });
}

/** The observer's meter and the canonical path's agree on one stream. */
function expectAgree(format: string, can: Canonical, meter: PassthroughMeter, thrown: unknown) {
  const relayComplete = meter.done && !meter.failed && thrown === undefined;
  expect(relayComplete).toBe(can.error === undefined);
  expect(meter.firstTokenAt !== undefined).toBe(can.out.firstTokenAt !== undefined);
  if (can.error === undefined) expect(meter.usage).toBeDefined();
  // A stream that did not complete has no usage on either path (message_start's is provisional):
  // the hub counts what was sent and received.
  expect(meter.usage).toEqual(can.out.usage);
  if (RELAYS[format]!.keepsOutput) expect(meter.output).toBe(can.out.outputText);
  // An in-band error: the chat observer throws the decoder's own error; the Messages observer
  // passes the error event on (the client sees it) and marks the relay failed.
  if (thrown !== undefined) expect((thrown as Error).message).toBe(can.error?.message);
}

describe.each(Object.keys(EXPECTED))('%s fixtures', (format) => {
  const relay = RELAYS[format]!;

  it('every recorded stream has its expectations here', () => {
    expect(streams(format)).toEqual(Object.keys(EXPECTED[format]!).sort());
  });

  it.each(Object.keys(EXPECTED[format]!))('%s: the canonical decoder reads the script; the observer agrees on usage, first token, completion and output', async (name) => {
    const want = EXPECTED[format]![name]!;
    const text = fixture(format, name);
    const can = await canonical(format, text);
    expectScript(can, want);
    expect(can.out.firstTokenAt !== undefined).toBe(Boolean(want.text || want.reasoning || want.tools));
    if (want.ends === 'complete') expect(can.out.outputText).toBe('');
    else expect(can.out.outputText).toBe((want.reasoning ?? '') + (want.text ?? ''));
    if (!relay.observer) return;
    const o = relay.observer();
    const bs = blocks(text);
    const seen = observe(o, bs);
    if (seen.error === undefined) expectRelayed(seen.sent, bs);
    expectAgree(format, can, o.meter, seen.error);
  });

  it.each(Object.entries(EXPECTED[format]!).filter(([, w]) => w.ends === 'complete').map(([n]) => n))(
    '%s cut after its first token: incomplete to both, the first token and the text so far kept',
    async (name) => {
      const bs = cut(blocks(fixture(format, name)), CONTENT[format]!);
      const can = await canonical(format, join(bs));
      expect(can.error?.message).toMatch(/ended the stream before it was complete/);
      expect(can.out.firstTokenAt).toBeTypeOf('number');
      expect(can.out.usage).toBeUndefined();
      expect(can.out.outputText).not.toBe('');
      if (!relay.observer) return;
      const o = relay.observer();
      const seen = observe(o, bs);
      expect(seen.error).toBeUndefined();
      expect(o.meter.done).toBe(false);
      expectAgree(format, can, o.meter, undefined);
    },
  );

  it('text.json (not streamed): the canonical path and the whole-body reader read the same usage; the stream the same answer', async () => {
    const text = fixture(format, 'text.json');
    const whole = await canonical(format, text, 'application/json');
    const streamed = await canonical(format, fixture(format, 'text.sse'));
    expect(whole.error).toBeUndefined();
    expect(whole.c.choices[0]!.text).toBe(streamed.c.choices[0]!.text);
    expect(whole.c.choices[0]!.finishReason).toBe('stop');
    expect(whole.c.usage).toEqual(streamed.c.usage);
    if (relay.whole) expect(relay.whole(text, 'up')).toEqual({ text, usage: whole.c.usage });
  });
});

describe('openai-responses fixtures (relay only: the hub has no Responses decoder for upstreams)', () => {
  it.each(['text.sse', 'tools.sse'])('%s: usage from the final event, a first token, completed', (name) => {
    const text = fixture('openai-responses', name);
    const bs = blocks(text);
    const o = new ResponsesObserver();
    expect(observe(o, bs).sent).toBe(join(bs));
    const final = JSON.parse(parseSSEEvent(bs.findLast((b) => b.startsWith('event: response.completed'))!)!.data).response;
    expect(o.meter.usage).toEqual({ inputTokens: final.usage.input_tokens, outputTokens: final.usage.output_tokens, cachedInputTokens: 0, reasoningTokens: 0 });
    expect(o.meter.firstTokenAt).toBeTypeOf('number');
    expect(o.meter.done).toBe(true);
    expect(o.meter.failed).toBe(false);
  });

  it('a cut stream reads as incomplete; no token before the first delta', () => {
    const bs = cut(blocks(fixture('openai-responses', 'text.sse')), /^event: response\.output_text\.delta/);
    const o = new ResponsesObserver();
    observe(o, bs.slice(0, -1));
    expect(o.meter.firstTokenAt).toBeUndefined();
    o.onBlock(bs.at(-1)!);
    expect(o.meter.firstTokenAt).toBeTypeOf('number');
    expect(o.meter.done).toBe(false);
    expect(o.meter.usage).toBeUndefined();
  });

  /** What the observer read of some blocks, and the block at which it saw the first token. */
  const readResponses = (bs: string[]) => {
    const o = new ResponsesObserver();
    let tokenAt = -1;
    bs.forEach((b, i) => {
      o.onBlock(b);
      if (tokenAt < 0 && o.meter.firstTokenAt !== undefined) tokenAt = i;
    });
    const { usage, done, failed } = o.meter;
    return { usage, done, failed, tokenAt };
  };
  /** The same blocks without their `event:` lines: the type only in the data, as some servers send them. */
  const dataOnly = (bs: string[]) => bs.map((b) => b.replace(/^event:[^\n]*\n/, ''));

  it.each(['text.sse', 'tools.sse'])('%s reads the same with the type only in the data (no `event:` lines)', (name) => {
    const bs = blocks(fixture('openai-responses', name));
    const framed = readResponses(bs);
    expect(framed.tokenAt).toBeGreaterThan(0);
    expect(dataOnly(bs).every((b) => b.startsWith('data:'))).toBe(true);
    expect(readResponses(dataOnly(bs))).toEqual(framed);
  });

  it('an error event or response.failed marks the relay failed, not done, with either framing', () => {
    const bs = cut(blocks(fixture('openai-responses', 'text.sse')), /^event: response\.output_text\.delta/);
    const error = 'event: error\ndata: {"type":"error","code":"server_error","message":"The server had an error while processing your request.","param":null,"sequence_number":5}';
    const completed = blocks(fixture('openai-responses', 'text.sse')).at(-1)!;
    const failed = completed
      .replaceAll('response.completed', 'response.failed')
      .replace('"status":"completed","background"', '"status":"failed","background"')
      .replace('"error":null', '"error":{"code":"server_error","message":"The server had an error while processing your request."}');
    expect(failed).toContain('"status":"failed"');
    for (const end of [error, failed]) {
      for (const framing of [(x: string[]) => x, dataOnly]) {
        const r = readResponses(framing([...bs, end]));
        expect(r.failed).toBe(true);
        expect(r.done).toBe(false);
      }
    }
    // The failed Response still carries its usage.
    expect(readResponses([...bs, failed]).usage).toEqual({ inputTokens: 12, outputTokens: 9, cachedInputTokens: 0, reasoningTokens: 0 });
    // A delta whose text merely mentions an error type is a token, not an error.
    const mention = bs.at(-1)!.replace('"delta":"Hello"', '"delta":"{\\"type\\":\\"error\\"}"');
    expect(mention).toContain('error');
    expect(readResponses([...bs.slice(0, -1), mention])).toMatchObject({ failed: false, tokenAt: bs.length - 1 });
  });

  it('text.json: usage read, bytes untouched', () => {
    const text = fixture('openai-responses', 'text.json');
    expect(readResponse(text, 'up')).toEqual({ text, usage: { inputTokens: 12, outputTokens: 9, cachedInputTokens: 0, reasoningTokens: 0 } });
  });
});
