/**
 * A knowledge-grounded virtual model (kind rag) over a vector store the hub holds: the store is
 * made and filled through the Vector Stores API, its id put in the config, and a chat-completions
 * client gets an answer grounded in the passages the hub's search returned (the member model saw
 * them), reported in the `baimo_retrieval` extension.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { startHub } from '../src/server/start.js';
import { startOpenAIUpstream } from './upstreams/openai.js';

const ZH = '长江是中国最长的河流，全长约六千三百公里。长江流域人口众多。';
let dir: string | undefined;
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a rag virtual model over a vector store the hub holds', () => {
  it('answers grounded in the passages the store gives, reported as baimo_retrieval', async () => {
    const upstream = await startOpenAIUpstream();
    const d = (dir = mkdtempSync(join(tmpdir(), 'baimo-rag-')));
    const config = join(d, 'baimo.yaml');
    const base = `providers:\n  loop:\n    baseURL: ${upstream.baseURL}\n    models: [gpt-test]\n`;
    writeFileSync(config, base);
    const open = () => startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(d, 'data'), env: { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });
    let hub = await open();
    try {
      let c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const vs = await c.vectorStores.create({ name: 'rag' });
      await c.vectorStores.fileBatches.uploadAndPoll(vs.id, { files: [await toFile(Buffer.from(ZH), 'zh.txt'), await toFile(Buffer.from('The Thames flows through London.'), 'en.txt')] });
      await hub.close();
      // The store's id goes into the config, as an operator would put it.
      writeFileSync(config, `${base}virtualModels:\n  kb:\n    kind: rag\n    model: loop/gpt-test\n    vectorStores: [${vs.id}]\n    maxResults: 3\n`);
      hub = await open();
      c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const before = upstream.requests.length;
      const r = await c.chat.completions.create({ model: 'kb', messages: [{ role: 'user', content: '长江有多长？' }] });
      const ext = (r as unknown as { baimo_retrieval: { results: { filename: string; vector_store_id: string; text: string }[] } }).baimo_retrieval;
      expect(ext.results[0]).toMatchObject({ filename: 'zh.txt', vector_store_id: vs.id });
      // The member model was asked with the passage in front of the question.
      const sent = JSON.stringify(upstream.requests.slice(before).find((q) => q.path === '/v1/chat/completions')!.body.messages);
      expect(sent).toContain('长江是中国最长的河流');

      // Streamed chat completions: the passages arrive in a chunk before the text that cites them.
      const chunks: Record<string, unknown>[] = [];
      for await (const ch of await c.chat.completions.create({ model: 'kb', stream: true, messages: [{ role: 'user', content: '长江有多长？[1]' }] })) chunks.push(ch as unknown as Record<string, unknown>);
      const at = chunks.findIndex((ch) => 'baimo_retrieval' in ch);
      const firstText = chunks.findIndex((ch) => ((ch as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '') !== '');
      expect(at).toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(firstText);
      expect((chunks[at]!.baimo_retrieval as { results: { filename: string }[] }).results[0]!.filename).toBe('zh.txt');

      // Anthropic messages clients, whole and streamed: the same passages, and the [1] the answer makes as a citation.
      const a = new Anthropic({ baseURL: hub.url, apiKey: 'x', maxRetries: 0 });
      const m = await a.messages.create({ model: 'kb', max_tokens: 200, messages: [{ role: 'user', content: '长江有多长？[1]' }] });
      const mr = (m as unknown as { baimo_retrieval: { results: { file_id: string; filename: string }[]; citations: { n: number; file_id: string }[] } }).baimo_retrieval;
      expect(mr.results[0]!.filename).toBe('zh.txt');
      expect(mr.citations).toContainEqual(expect.objectContaining({ n: 1, file_id: mr.results[0]!.file_id }));
      const events: Record<string, unknown>[] = [];
      for await (const e of await a.messages.create({ model: 'kb', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'How long is the Thames? [1]' }] })) events.push(e as unknown as Record<string, unknown>);
      const delta = events.find((e) => e.type === 'message_delta') as { baimo_retrieval: { results: { filename: string }[]; citations: { n: number }[] } };
      expect(delta.baimo_retrieval.results[0]!.filename).toBe('en.txt');
      expect(delta.baimo_retrieval.citations[0]!.n).toBe(1);
    } finally {
      await hub.close();
      await upstream.close();
    }
  });
});
