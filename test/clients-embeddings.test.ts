/**
 * Embeddings on a Gemini provider, through the hub's OpenAI endpoint with the official openai SDK:
 * batchEmbedContents upstream, `dimensions` → `outputDimensionality`, float and base64 encodings,
 * usage counted by the hub (Google reports none), errors in OpenAI's shape.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { GEMINI_EMBEDDING_DIMENSIONS, geminiEmbedding, startGeminiUpstream } from './upstreams/gemini.js';
import type { GeminiUpstream } from './upstreams/gemini.js';

const KEY = 'AIza-test-gemini-key-0000000000000000000';
let upstream: GeminiUpstream;
let hub: TestHub;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startGeminiUpstream({ apiKey: KEY });
  hub = await startTestHub(
    `providers:
  gem:
    type: gemini
    baseURL: ${upstream.baseURL}
    apiKey: \${GEM_KEY}
    embeddingModels: [gemini-embedding-001]
`,
    { GEM_KEY: KEY },
  );
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const close = (a: readonly number[], b: readonly number[]) => {
  expect(a).toHaveLength(b.length);
  a.forEach((x, i) => expect(x).toBeCloseTo(b[i]!, 5));
};

describe('Gemini embeddings through /v1/embeddings', () => {
  it('float vectors, in order, with dimensions sent as outputDimensionality', async () => {
    const r = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: ['alpha beta', 'gamma'], dimensions: 16, encoding_format: 'float' });
    expect(r.object).toBe('list');
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    expect(r.data[0]!.embedding).toEqual(geminiEmbedding('alpha beta', 16));
    expect(r.data[1]!.embedding).toEqual(geminiEmbedding('gamma', 16));
    // Google returns no token counts; the hub counts the input itself.
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens);

    const sent = upstream.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(sent.headers['x-goog-api-key']).toBe(KEY);
    expect(sent.body).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha beta' }] }, outputDimensionality: 16 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'gamma' }] }, outputDimensionality: 16 },
      ],
    });
  });

  it('base64, as the SDK asks by default: decoded by the SDK to the same floats', async () => {
    const r = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: 'gamma', dimensions: 8 });
    close(r.data[0]!.embedding, geminiEmbedding('gamma', 8));
    // On the wire: little-endian float32s in base64.
    const res = await fetch(`${hub.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gem/gemini-embedding-001', input: 'gamma', dimensions: 8, encoding_format: 'base64' }),
    });
    const wire = (await res.json()) as { data: { embedding: string }[] };
    expect(typeof wire.data[0]!.embedding).toBe('string');
    const buf = Buffer.from(wire.data[0]!.embedding, 'base64');
    close(Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4)), geminiEmbedding('gamma', 8));
  });

  it('without dimensions the model size comes back, and a batch over 100 inputs is split', async () => {
    const one = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: 'hello', encoding_format: 'float' });
    expect(one.data[0]!.embedding).toHaveLength(GEMINI_EMBEDDING_DIMENSIONS);
    expect(upstream.requests.at(-1)!.body.requests[0]).not.toHaveProperty('outputDimensionality');

    const before = upstream.requests.length;
    const inputs = Array.from({ length: 150 }, (_, i) => `text ${i}`);
    const many = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: inputs, dimensions: 4, encoding_format: 'float' });
    expect(many.data).toHaveLength(150);
    expect(many.data[149]!.embedding).toEqual(geminiEmbedding('text 149', 4));
    expect(upstream.requests.slice(before).map((r) => r.body.requests.length)).toEqual([100, 50]);
  });

  it('errors come back in OpenAI shape: a chat model, token arrays, an upstream refusal', async () => {
    await expect(client.embeddings.create({ model: 'gem/gemini-2.5-flash', input: 'x' })).rejects.toMatchObject({ status: 404 });
    const tokens = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: [[1, 2, 3]] }).catch((e: unknown) => e);
    expect(tokens).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tokens as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('token arrays');
    const bad = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: 'x', dimensions: 5000 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
