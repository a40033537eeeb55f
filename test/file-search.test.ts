/**
 * The file_search tool of /v1/responses for every model: the hub searches the vector stores it
 * holds, grounds the model (whatever its wire format) in the passages, and answers with a
 * file_search_call item and file_citation annotations — driven by the official openai SDK,
 * streamed and not, over OpenAI-compatible, Anthropic and Gemini upstreams.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { UPSTREAM_KINDS, startKindUpstreams } from './helpers/upstream-kinds.js';
import type { KindUpstreams } from './helpers/upstream-kinds.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const ZH = '长江是中国最长的河流，全长约六千三百公里。长江流域人口众多，物产丰富。';
const EN = 'The Thames flows through London and is about 346 kilometres long.';

let hub: TestHub;
let client: OpenAI;
let other: OpenAI;
let store: OpenAI.VectorStores.VectorStore;
const files: Record<string, string> = {};
let upstreams: KindUpstreams;

const newKey = async (name: string) => (await createKey(hub.url, ADMIN, { name })).key;

beforeAll(async () => {
  upstreams = await startKindUpstreams();
  hub = await startTestHub(upstreams.yaml, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: await newKey('kb'), maxRetries: 0 });
  other = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: await newKey('other'), maxRetries: 0 });
  store = await client.vectorStores.create({ name: 'rivers' });
  for (const [name, text] of [['zh.txt', ZH], ['en.txt', EN]] as const) {
    const f = await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' });
    files[name] = f.id;
  }
  const batch = await client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: Object.values(files) }, { pollIntervalMs: 50 });
  expect(batch.file_counts).toMatchObject({ completed: 2, failed: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstreams?.close();
});

const tool = (extra: Record<string, unknown> = {}) => ({ type: 'file_search' as const, vector_store_ids: [store.id], ...extra });

describe.each(UPSTREAM_KINDS.map((k) => k.kind))('file_search → %s upstream', (kind) => {
  const model = `${kind}-up/gpt-test`;

  it('answers grounded in the store: a file_search_call with results, then a message citing the file', async () => {
    const before = upstreams.byKind[kind]!.requests.length;
    // The loopback upstreams echo the question, so "[1]" in it comes back as the model's citation.
    const r = await client.responses.create({ model, input: '长江有多长？[1]', tools: [tool()], include: ['file_search_call.results'] });
    const call = r.output[0] as OpenAI.Responses.ResponseFileSearchToolCall;
    expect(call).toMatchObject({ type: 'file_search_call', status: 'completed', queries: ['长江有多长？[1]'] });
    expect(call.id).toMatch(/^fs_/);
    expect(call.results![0]).toMatchObject({ file_id: files['zh.txt'], filename: 'zh.txt' });
    expect(call.results![0]!.text).toContain('长江是中国最长的河流');
    const msg = r.output[1] as OpenAI.Responses.ResponseOutputMessage;
    const part = msg.content[0] as OpenAI.Responses.ResponseOutputText;
    expect(part.annotations).toEqual([{ type: 'file_citation', index: part.text.indexOf('[1]'), file_id: files['zh.txt'], filename: 'zh.txt' }]);
    // The model was asked with the passage in front of the question, in its own format.
    const sent = JSON.stringify(upstreams.byKind[kind]!.requests.slice(before).map((q) => q.body));
    expect(sent).toContain('长江是中国最长的河流');
    expect(sent).toContain('[1] zh.txt');
  });

  it('streams the file_search_call events before the text, and the same annotations', async () => {
    const s = client.responses.stream({ model, input: 'How long is the Thames? [1]', tools: [tool()] });
    const types: string[] = [];
    s.on('event', (e) => types.push(e.type));
    const r = await s.finalResponse();
    expect(types.slice(0, 7)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.file_search_call.in_progress',
      'response.file_search_call.searching',
      'response.file_search_call.completed',
      'response.output_item.done',
    ]);
    expect(types).toContain('response.output_text.annotation.added');
    const call = r.output[0] as OpenAI.Responses.ResponseFileSearchToolCall;
    // Results only when the request includes them, as OpenAI does.
    expect(call.results ?? null).toBeNull();
    const part = (r.output[1] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
    expect(part.annotations[0]).toMatchObject({ type: 'file_citation', file_id: files['en.txt'], filename: 'en.txt' });
  });
});

describe('file_search refusals', () => {
  const model = 'openai-up/gpt-test';

  it("another key's store is not found, and nothing is sent upstream", async () => {
    const before = upstreams.byKind.openai!.requests.length;
    await expect(other.responses.create({ model, input: 'q', tools: [tool()] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model, input: 'q', tools: [{ type: 'file_search', vector_store_ids: ['vs_nope'] }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(upstreams.byKind.openai!.requests.length).toBe(before);
  });

  it('a malformed tool or filter is a 400 naming the parameter', async () => {
    const bad = async (t: Record<string, unknown>, param: RegExp) => {
      const e = (await client.responses.create({ model, input: 'q', tools: [t as never] }).catch((x: unknown) => x)) as InstanceType<typeof OpenAI.BadRequestError>;
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.message).toMatch(param);
    };
    await bad(tool({ max_num_results: 0 }), /tools\[0\]\.max_num_results/);
    await bad({ type: 'file_search', vector_store_ids: [] }, /tools\[0\]\.vector_store_ids/);
    await bad({ type: 'file_search', vector_store_ids: 'vs' }, /vector_store_ids/);
    await bad(tool({ filters: { type: 'eq', key: 'x' } }), /filters/);
    await bad(tool({ filters: nest(50) }), /filters/);
    const two = await client.responses.create({ model, input: 'q', tools: [tool(), tool()] }).catch((x: unknown) => x);
    expect(two).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('a filter that no file passes grounds the model in nothing, and says so', async () => {
    const r = await client.responses.create({ model, input: '长江', tools: [tool({ filters: { type: 'eq', key: 'lang', value: 'fr' } })], include: ['file_search_call.results'] });
    expect((r.output[0] as OpenAI.Responses.ResponseFileSearchToolCall).results).toEqual([]);
  });
});

function nest(depth: number): Record<string, unknown> {
  let f: Record<string, unknown> = { type: 'eq', key: 'k', value: 1 };
  for (let i = 0; i < depth; i++) f = { type: 'and', filters: [f] };
  return f;
}
