/**
 * The OpenAI chat relay's observer parses a block only while it must (until the first token, and
 * blocks that may carry usage or an error); later blocks pass unparsed and are read for their
 * text only if the stream ends without usage. What it reports must not depend on that.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChatObserver } from '../src/providers/openai-compatible/passthrough.js';

const FIXTURE = readFileSync(join(import.meta.dirname, 'fixtures/openai-chat/text.sse'), 'utf8');
const blocks = (text: string) => text.split('\n\n').filter((b) => b.trim() !== '');
const chunk = (content: string, extra = '') => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}],"usage":null${extra}}`;

function run(bs: string[], includeUsage = true) {
  const o = new ChatObserver('up', includeUsage);
  const sent = bs.map((b) => o.onBlock(b)).join('');
  return { o, sent };
}

describe('the OpenAI chat relay observer', () => {
  it('a recorded stream: usage read, done, every block passed on as it came', () => {
    const bs = blocks(FIXTURE);
    const { o, sent } = run(bs);
    expect(o.meter.done).toBe(true);
    expect(o.meter.usage).toMatchObject({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect(o.meter.output).toBe('');
    expect(sent).toBe(bs.map((b) => `${b}\n\n`).join(''));
  });

  it('cut before usage: the output is every token relayed, in order, read from the blocks passed unparsed', () => {
    const parts = ['Hel', 'lo, ', 'wor', 'ld', '!'];
    const { o } = run(parts.map((p) => chunk(p)));
    expect(o.meter.firstTokenAt).toBeTypeOf('number');
    expect(o.meter.usage).toBeUndefined();
    expect(o.meter.done).toBe(false);
    expect(o.meter.output).toBe('Hello, world!');
  });

  it('content that talks about "usage": {…} or "error": is text, not a usage or error event', () => {
    const tricky = ['Say ', '"usage": {"prompt_tokens": 1}', ' and "error": "none"'];
    const { o, sent } = run([...tricky.map((p) => chunk(p)), 'data: [DONE]']);
    expect(o.meter.usage).toBeUndefined();
    expect(o.meter.done).toBe(true);
    expect(o.meter.output).toBe(tricky.join(''));
    expect(sent).toContain('\\"usage\\"');
  });

  it('an in-band error after the first token is still caught, and usage after unparsed blocks still counts', () => {
    expect(() => run([chunk('Hi'), chunk(' there'), 'data: {"error":{"message":"overloaded","type":"server_error"}}'])).toThrow(/overloaded/);
    const { o } = run([chunk('Hi'), chunk(' there'), `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`, 'data: [DONE]']);
    expect(o.meter.usage).toMatchObject({ inputTokens: 7, outputTokens: 2 });
    expect(o.meter.output).toBe('');
  });
});
