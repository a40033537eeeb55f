import { getEncoding } from 'js-tiktoken';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateTextTokens } from '../src/usage/estimate.js';
import { countTokens, loadTokenizer } from '../src/usage/tokens.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let hub: TestHub;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`
providers:
  loop:
    baseURL: ${upstream.baseURL}
    models: [gpt-4o-slow-stream]
`);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

/** Opens a slow stream under an OpenAI model name, reads two chunks and leaves. */
async function abandonStream(prompt: string) {
  const before = upstream.aborted();
  const last = hub.store.recentUsage(1)[0]?.request_id;
  const stream = await client.chat.completions.create({ model: 'loop/gpt-4o-slow-stream', messages: [{ role: 'user', content: prompt }], stream: true });
  let n = 0;
  for await (const _ of stream) if (++n === 2) break;
  await expect.poll(() => upstream.aborted(), { timeout: 3000 }).toBe(before + 1);
  await expect.poll(() => hub.store.recentUsage(1)[0]?.request_id !== last, { timeout: 3000 }).toBe(true);
  const row = hub.store.recentUsage(1)[0]!;
  expect(row.error_kind).toBe('canceled');
  return row;
}

describe('usage of an abandoned stream (no usage from the upstream)', () => {
  // Must run first: on a fresh hub no tokenizer table is loaded yet.
  it('is recorded on a fresh hub without loading a tokenizer table on the request path, and exactly once it is loaded', async () => {
    const prompt = 'Tell me a long story about a lighthouse keeper and her cat.';
    const first = await abandonStream(prompt);
    // js-tiktoken's table loaded synchronously here and held the event loop ~0.9 s; now the
    // record carries the estimate and the table loads in slices between other work.
    expect(first).toMatchObject({ usage_counted: 1, input_tokens: estimateTextTokens(prompt) });
    expect(first.output_tokens).toBeGreaterThan(0);

    expect(await loadTokenizer('gpt-4o')).toBe(true);
    const second = await abandonStream(prompt);
    const exact = countTokens('gpt-4o', prompt);
    expect(exact.exact).toBe(true);
    expect(second).toMatchObject({ usage_counted: 1, input_tokens: exact.tokens });
    expect(second.input_tokens).toBe(getEncoding('o200k_base').encode(prompt).length);
  });
});

describe('token counting', () => {
  it('never loads a table synchronously: the first count is an estimate, and loading yields to the event loop', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    expect(countTokens('gpt-4', text)).toEqual({ tokens: estimateTextTokens(text), exact: false });
    let turns = 0;
    let done = false;
    const tick = () => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    expect(await loadTokenizer('gpt-4')).toBe(true);
    done = true;
    // Built in slices with other work between them (a synchronous load allows none).
    expect(turns).toBeGreaterThanOrEqual(5);
    expect(countTokens('gpt-4', text)).toEqual({ tokens: 10, exact: true });
    expect(await loadTokenizer('some-other-model')).toBe(false);
  });

  it("counts exactly as OpenAI's tokenizers do", async () => {
    await Promise.all([loadTokenizer('gpt-4o'), loadTokenizer('gpt-4')]);
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const from = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join('');
    const corpus = [
      'hello world',
      'The quick brown fox jumps over the lazy dog. '.repeat(40),
      '你好，世界！这是一个测试。'.repeat(20),
      '😀🎉👍🏽 emoji 🇨🇳 '.repeat(30),
      'สวัสดีครับ ภาษาไทย '.repeat(30),
      'x7Qz9'.repeat(400),
      'a'.repeat(900),
      ' '.repeat(700) + '\n\n\t\r\n',
      'function foo(bar) {\n  return bar * 2; // comment\n}\n'.repeat(20),
      "it's we'll THEY'RE don't I'M",
      '1234567890123 3.14159 -42e10',
      'aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ='.repeat(20),
      'Ünïcödé façade naïve café Größe',
      from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 600),
      from('abcdefghijklmnopqrstuvwxyz0123456789 .,;:!?-_/\\()[]{}<>@#$%^&*+=~`|"\'\n', 3000),
      Array.from({ length: 800 }, () => String.fromCodePoint(0x4e00 + rnd(3000))).join(''),
      Array.from({ length: 300 }, () => String.fromCodePoint(0x1f300 + rnd(600))).join(''),
    ];
    for (const [model, encoding] of [['gpt-4o', 'o200k_base'], ['gpt-4', 'cl100k_base']] as const) {
      const reference = getEncoding(encoding);
      for (const text of corpus) expect({ text: text.slice(0, 20), ...countTokens(model, text) }).toEqual({ text: text.slice(0, 20), tokens: reference.encode(text).length, exact: true });
    }
  });

  it('counts special-token text as text instead of throwing', async () => {
    await loadTokenizer('gpt-4o');
    const text = 'say <|endoftext|> and <|endofprompt|>';
    expect(countTokens('gpt-4o', text).tokens).toBe(getEncoding('o200k_base').encode(text, [], []).length);
  });

  it('bounds the work on hostile text: a huge one-word prompt is extrapolated, not tokenized whole', async () => {
    await loadTokenizer('gpt-4o');
    // js-tiktoken merges a 20 KB run of one letter in over a minute (quadratic); this is 3 MB.
    // "xxxxxxxx" is one o200k token, so the exact count is 375,000.
    const c = countTokens('gpt-4o', 'x'.repeat(3_000_000));
    expect(c.exact).toBe(false);
    expect(c.tokens).toBeGreaterThan(375_000 * 0.95);
    expect(c.tokens).toBeLessThan(375_000 * 1.05);
    // A prompt that changes character half-way is never extrapolated below the plain estimate.
    const mixed = 'word '.repeat(60_000) + '漢'.repeat(500_000);
    expect(countTokens('gpt-4o', mixed).tokens).toBeGreaterThanOrEqual(500_000);
  });
});
