/**
 * Recorded wire examples (test/fixtures/<format>/, captured from the loopback upstreams in
 * test/upstreams/ and, for the Responses API, from a hub's own Responses stream) read by both
 * sides: the canonical decoders (wire → ChatEvents) and the passthrough observers (the relay's
 * meter). Each fixture's usage, first token and completion read the same either way, and a stream
 * cut before its end reads as incomplete to both.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Collector } from '../src/core/collect.js';
import type { Collected } from '../src/core/collect.js';
import type { PassthroughMeter } from '../src/core/model.js';
import { AnthropicStreamDecoder } from '../src/providers/anthropic/response.js';
import { MessagesObserver, readMessage } from '../src/providers/anthropic/passthrough.js';
import { GeminiStreamDecoder } from '../src/providers/gemini/response.js';
import { chunkToEvents } from '../src/providers/openai-compatible/response.js';
import { ChatObserver, readCompletion } from '../src/providers/openai-compatible/passthrough.js';
import { readResponse, ResponsesObserver } from '../src/providers/openai-compatible/responses-passthrough.js';
import type { StreamObserver } from '../src/providers/passthrough.js';
import { parseSSEEvent, SSESplitter } from '../src/providers/sse.js';

const fixture = (format: string, name: string) => readFileSync(new URL(`./fixtures/${format}/${name}`, import.meta.url), 'utf8');

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
  expect(i).toBeGreaterThan(0);
  return bs.slice(0, i + 1);
}

/** Runs blocks through an observer; returns what it passed on. */
function observe(o: StreamObserver, bs: string[]): string {
  return bs.map((b) => o.onBlock(b)).join('');
}

function collected(events: Iterable<Parameters<Collector['add']>[0]>): Collected {
  const c = new Collector();
  for (const e of events) c.add(e);
  return c.result();
}

function expectComplete(meter: PassthroughMeter, c: Collected) {
  expect(meter.usage).toBeDefined();
  expect(meter.usage).toEqual(c.usage);
  expect(meter.firstTokenAt).toBeTypeOf('number');
  expect(meter.done).toBe(true);
  expect(meter.failed).toBe(false);
}

describe('openai-chat fixtures', () => {
  const decode = (bs: string[]) => {
    let done = false;
    const events = bs.flatMap((b) => {
      const ev = parseSSEEvent(b);
      if (!ev) return [];
      if (ev.data === '[DONE]') return (done = true), [];
      return chunkToEvents(JSON.parse(ev.data));
    });
    return { c: collected(events), done };
  };

  it.each(['text.sse', 'tools.sse'])('%s: the decoder and the observer read the same usage and completion; the bytes pass unchanged', (name) => {
    const text = fixture('openai-chat', name);
    const bs = blocks(text);
    const { c, done } = decode(bs);
    const o = new ChatObserver('up', true);
    expect(observe(o, bs)).toBe(text.endsWith('\n\n') ? text : `${text}\n\n`);
    expectComplete(o.meter, c);
    expect(done).toBe(true);
    if (name === 'tools.sse') expect(c.choices[0]!.toolCalls.map((t) => t.name)).toEqual(['get_weather', 'get_time']);
    else expect(c.choices[0]!.text).toBe('Hello from gpt-test! You said: hi there');
  });

  it('a cut stream: no [DONE], no usage, the text so far kept for counting', () => {
    const bs = cut(blocks(fixture('openai-chat', 'text.sse')), /"content":"[^"]+"/);
    const o = new ChatObserver('up', true);
    observe(o, bs);
    expect(decode(bs).done).toBe(false);
    expect(o.meter.done).toBe(false);
    expect(o.meter.usage).toBeUndefined();
    expect(o.meter.output).toBe('Hello');
    expect(o.meter.firstTokenAt).toBeTypeOf('number');
  });

  it('text.json: the whole body read once, kept byte for byte', () => {
    const text = fixture('openai-chat', 'text.json');
    expect(readCompletion(text, 'up')).toEqual({ text, usage: { inputTokens: 12, outputTokens: 9 } });
  });
});

describe('anthropic-messages fixtures', () => {
  const decode = (bs: string[]) => {
    const d = new AnthropicStreamDecoder('up', 'm');
    const events = bs.flatMap((b) => {
      const ev = parseSSEEvent(b);
      return ev && ev.data !== '' ? d.decode(ev.event, JSON.parse(ev.data)) : [];
    });
    return { c: collected(events), done: d.done };
  };

  it.each(['text.sse', 'tools.sse'])('%s: the decoder and the observer read the same usage and completion', (name) => {
    const text = fixture('anthropic-messages', name);
    const bs = blocks(text);
    const { c, done } = decode(bs);
    const o = new MessagesObserver('up');
    expect(observe(o, bs)).toBe(text.endsWith('\n\n') ? text : `${text}\n\n`);
    expectComplete(o.meter, c);
    expect(done).toBe(true);
  });

  it('a cut stream reads as incomplete to both', () => {
    const bs = cut(blocks(fixture('anthropic-messages', 'text.sse')), /^event: content_block_delta/);
    const o = new MessagesObserver('up');
    observe(o, bs);
    expect(decode(bs).done).toBe(false);
    expect(o.meter.done).toBe(false);
    expect(o.meter.firstTokenAt).toBeTypeOf('number');
  });

  it('text.json: usage read, bytes untouched', () => {
    const text = fixture('anthropic-messages', 'text.json');
    expect(readMessage(text, 'up')).toEqual({ text, usage: { inputTokens: 12, outputTokens: 9, cachedInputTokens: 0, cacheWriteTokens: 0 } });
  });
});

describe('openai-responses fixtures', () => {
  it.each(['text.sse', 'tools.sse'])('%s: usage from the final event, a first token, completed', (name) => {
    const text = fixture('openai-responses', name);
    const bs = blocks(text);
    const o = new ResponsesObserver();
    expect(observe(o, bs)).toBe(text.endsWith('\n\n') ? text : `${text}\n\n`);
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

  it('text.json: usage read, bytes untouched', () => {
    const text = fixture('openai-responses', 'text.json');
    expect(readResponse(text, 'up')).toEqual({ text, usage: { inputTokens: 12, outputTokens: 9, cachedInputTokens: 0, reasoningTokens: 0 } });
  });
});

describe('gemini fixtures (canonical only: no client speaks Gemini)', () => {
  const decode = (docs: unknown[]) => {
    const d = new GeminiStreamDecoder('m', { provider: 'up' });
    const events = docs.flatMap((doc) => d.push(doc as never));
    const finished = d.finished;
    return { c: collected([...events, ...d.finish()]), finished };
  };
  const docs = (name: string) => blocks(fixture('gemini', name)).map((b) => JSON.parse(parseSSEEvent(b)!.data));

  it('text.sse and text.json read the same answer and usage', () => {
    const s = decode(docs('text.sse'));
    const w = decode([JSON.parse(fixture('gemini', 'text.json'))]);
    expect(s.finished && w.finished).toBe(true);
    expect(s.c.choices[0]!.text).toBe('Hello from gemini-2.5-flash! You said: hi there');
    expect(w.c.choices[0]!.text).toBe(s.c.choices[0]!.text);
    expect(s.c.usage).toMatchObject({ inputTokens: 12, outputTokens: 9 });
    expect(w.c.usage).toEqual(s.c.usage);
  });

  it('tools.sse: two calls, finished; cut before the finish reason it is not', () => {
    const all = docs('tools.sse');
    const s = decode(all);
    expect(s.c.choices[0]!.toolCalls.map((t) => t.name)).toEqual(['get_weather', 'get_time']);
    expect(s.finished).toBe(true);
    expect(decode(all.slice(0, 1)).finished).toBe(false);
  });
});
