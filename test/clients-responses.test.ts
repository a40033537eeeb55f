/**
 * What real Responses API clients send, on translated upstreams (OpenAI-compatible chat,
 * Anthropic, Gemini): the Vercel AI SDK's item references in step 2 of a tool loop, Codex's
 * freeform `custom` tools (apply_patch), and `GET /v1/responses/{id}/input_items`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomInputDecoder, ResponsesStreamRenderer } from '../src/protocols/openai-responses/from-canonical.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { UPSTREAM_KINDS, startKindUpstreams } from './helpers/upstream-kinds.js';
import type { KindUpstreams } from './helpers/upstream-kinds.js';
import { PATCH_INPUT } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
let hub: TestHub;
let client: OpenAI;
let keyA: string;
let keyB: string;
let upstreams: KindUpstreams;

beforeAll(async () => {
  upstreams = await startKindUpstreams();
  hub = await startTestHub(upstreams.yaml, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
  const newKey = async () => (await createKey(hub.url, ADMIN, { name: 'clients' })).key;
  keyA = await newKey();
  keyB = await newKey();
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: keyA, maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstreams?.close();
});

const TOOLS: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] }, strict: false },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { timezone: { type: 'string' } } }, strict: false },
];

/** POST /v1/responses as a plain HTTP client (the AI SDK's own fetch), with key A unless told. */
async function post(body: unknown, key = keyA) {
  const res = await fetch(`${hub.url}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** What the upstream got for the assistant turn with both calls and for the two results. */
function checkToolTurnSent(kind: string, body: any, callIds: string[]) {
  if (kind === 'openai') {
    const assistant = body.messages.find((m: any) => m.role === 'assistant');
    expect(assistant.tool_calls.map((t: any) => [t.id, t.function.name, JSON.parse(t.function.arguments)])).toEqual([
      [callIds[0], 'get_weather', { city: 'Paris', unit: 'celsius' }],
      [callIds[1], 'get_time', { timezone: 'Europe/Paris' }],
    ]);
    expect(body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.tool_call_id)).toEqual(callIds);
  }
  if (kind === 'anthropic') {
    const assistant = body.messages.find((m: any) => m.role === 'assistant');
    expect(assistant.content.filter((b: any) => b.type === 'tool_use').map((b: any) => [b.id, b.name])).toEqual([
      [callIds[0], 'get_weather'],
      [callIds[1], 'get_time'],
    ]);
    expect(body.messages.at(-1).content.filter((b: any) => b.type === 'tool_result').map((b: any) => b.tool_use_id)).toEqual(callIds);
  }
  if (kind === 'gemini') {
    const model = body.contents.find((c: any) => c.role === 'model');
    expect(model.parts.filter((p: any) => p.functionCall).map((p: any) => [p.functionCall.name, p.functionCall.args])).toEqual([
      ['get_weather', { city: 'Paris', unit: 'celsius' }],
      ['get_time', { timezone: 'Europe/Paris' }],
    ]);
    expect(body.contents.at(-1).parts.filter((p: any) => p.functionResponse).map((p: any) => p.functionResponse.name)).toEqual(['get_weather', 'get_time']);
  }
}

describe.each(UPSTREAM_KINDS.map((k) => k.kind))('item_reference (Vercel AI SDK tool loop) → %s upstream', (kind) => {
  const model = (name: string) => `${kind}-up/${name}`;
  const user = { role: 'user', content: [{ type: 'input_text', text: 'Weather and time in Paris?' }] };

  /** Step 1 of the loop: the model calls both tools. */
  async function step1() {
    const r = await post({ model: model('tools'), input: [user], tools: TOOLS });
    expect(r.status).toBe(200);
    const calls = r.body.output.filter((o: any) => o.type === 'function_call');
    expect(calls.map((c: any) => c.name)).toEqual(['get_weather', 'get_time']);
    return { output: r.body.output as any[], calls: calls as any[] };
  }
  const results = (calls: any[]) => calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: c.name === 'get_weather' ? '{"temp":18}' : '{"time":"12:00"}' }));

  it('step 2 names every step-1 item by reference (store: true), as earlier AI SDK releases send it', async () => {
    const { output, calls } = await step1();
    const input = [user, ...output.map((o) => ({ type: 'item_reference', id: o.id })), ...results(calls)];
    const r = await post({ model: model('tools'), input, tools: TOOLS });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.output.find((o: any) => o.type === 'message').content[0].text).toBe('The weather in Paris is 18°C.');
    checkToolTurnSent(kind, upstreams.byKind[kind]!.requests.at(-1)!.body, calls.map((c) => c.call_id));
  });

  it('reasoning and text named by reference, beside a call repeated in full, as the current AI SDK sends them', async () => {
    const first = await post({ model: model('reasoner'), input: [{ role: 'user', content: 'What is six times seven?' }], reasoning: { effort: 'low', summary: 'auto' } });
    expect(first.body.output.map((o: any) => o.type)).toEqual(['reasoning', 'message']);
    const input = [
      { role: 'user', content: 'What is six times seven?' },
      ...first.body.output.map((o: any) => ({ type: 'item_reference', id: o.id })),
      { type: 'function_call', call_id: 'call_1', name: 'get_time', arguments: '{"timezone":"UTC"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"time":"12:00"}' },
    ];
    const r = await post({ model: model('tools'), input, tools: TOOLS });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const sent = JSON.stringify(upstreams.byKind[kind]!.requests.at(-1)!.body);
    expect(sent).toContain('The answer is 42.');
    expect(sent).toContain('get_time');
  });

  it('a text answer named by reference reaches the upstream as the assistant turn (openai SDK, streaming)', async () => {
    const first = await client.responses.create({ model: model('gpt-test'), input: 'hi there' });
    const msg = first.output.find((o) => o.type === 'message')!;
    const s = client.responses.stream({
      model: model('gpt-test'),
      input: [{ role: 'user', content: 'hi there' }, { type: 'item_reference', id: msg.id }, { role: 'user', content: 'and again' }],
    });
    expect((await s.finalResponse()).output_text).toBe('Hello from gpt-test! You said: and again');
    const sent = upstreams.byKind[kind]!.requests.at(-1)!.body;
    const said = JSON.stringify(sent);
    expect(said).toContain('Hello from gpt-test! You said: hi there');
    if (kind === 'openai') expect(sent.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user']);
    if (kind === 'anthropic') expect(sent.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user']);
    if (kind === 'gemini') expect(sent.contents.map((c: any) => c.role)).toEqual(['user', 'model', 'user']);
  });
});

describe('item_reference that names nothing this key may see', () => {
  it('an unknown id is a 400 naming the input field', async () => {
    const r = await post({ model: 'openai-up/tools', input: [{ role: 'user', content: 'x' }, { type: 'item_reference', id: 'msg_nope' }] });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('input[1].id');
    expect(r.body.error.message).toContain("item_reference 'msg_nope' does not name an item this hub has stored");
  });

  it("another key's item is not found, and a response stored with store: false leaves nothing to name", async () => {
    const mine = await post({ model: 'openai-up/gpt-test', input: 'hi' });
    const id = mine.body.output[0].id;
    const other = await post({ model: 'openai-up/gpt-test', input: [{ type: 'item_reference', id }] }, keyB);
    expect(other.status).toBe(400);
    expect(other.body.error.message).toContain('does not name an item');
    const unstored = await post({ model: 'openai-up/gpt-test', input: 'hi', store: false });
    const again = await post({ model: 'openai-up/gpt-test', input: [{ type: 'item_reference', id: unstored.body.output[0].id }] });
    expect(again.status).toBe(400);
  });
});

describe('custom (freeform) tools, as Codex offers apply_patch', () => {
  const APPLY_PATCH = {
    type: 'custom' as const,
    name: 'apply_patch',
    description: 'Use the `apply_patch` tool to edit files.',
    format: { type: 'grammar' as const, syntax: 'lark' as const, definition: 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF' },
  };

  function checkOffered() {
    const sent = upstreams.byKind.openai!.requests.at(-1)!.body;
    const fn = sent.tools.find((t: any) => t.function.name === 'apply_patch').function;
    expect(fn.parameters).toMatchObject({ type: 'object', properties: { input: { type: 'string' } }, required: ['input'] });
    expect(fn.description).toContain('Use the `apply_patch` tool to edit files.');
    expect(fn.description).toContain('start: begin_patch hunk+ end_patch');
    expect(fn.description).toContain('lark');
  }

  it.each(['anthropic', 'gemini'])('the %s upstream accepts the tool as a function of one string', async (kind) => {
    const r = await client.responses.create({ model: `${kind}-up/gpt-test`, input: 'hi', tools: [APPLY_PATCH] });
    expect(r.status).toBe('completed');
    const sent = upstreams.byKind[kind]!.requests.at(-1)!.body;
    if (kind === 'anthropic') expect(sent.tools[0]).toMatchObject({ name: 'apply_patch', input_schema: { properties: { input: { type: 'string' } }, required: ['input'] } });
    if (kind === 'gemini') expect(sent.tools[0].functionDeclarations[0]).toMatchObject({ name: 'apply_patch' });
    expect(JSON.stringify(sent.tools)).toContain('start: begin_patch hunk+ end_patch');
  });

  it('the model sees the tool and its call comes back as a custom_tool_call item', async () => {
    const r = await client.responses.create({ model: 'openai-up/patcher', input: 'add hello.txt', tools: [APPLY_PATCH, TOOLS[0]!] });
    checkOffered();
    expect(r.output).toHaveLength(1);
    expect(r.output[0]).toMatchObject({ type: 'custom_tool_call', call_id: 'call_patch_1', name: 'apply_patch', input: PATCH_INPUT, status: 'completed' });
    expect(r.output[0]!.id).toMatch(/^ctc_/);
    // The tool's output goes back on top of the stored conversation.
    const next = await client.responses.create({
      model: 'openai-up/patcher',
      previous_response_id: r.id,
      tools: [APPLY_PATCH],
      input: [{ type: 'custom_tool_call_output', call_id: 'call_patch_1', output: 'Done!' }],
    });
    expect(next.output_text).toBe('Patched.');
    const sent = upstreams.byKind.openai!.requests.at(-1)!.body;
    expect(sent.messages.at(-2).tool_calls[0]).toMatchObject({ id: 'call_patch_1', function: { name: 'apply_patch' } });
    expect(JSON.parse(sent.messages.at(-2).tool_calls[0].function.arguments)).toEqual({ input: PATCH_INPUT });
    expect(sent.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_patch_1', content: 'Done!' });
  });

  it('streams the input as response.custom_tool_call_input.delta / .done events', async () => {
    const s = client.responses.stream({ model: 'openai-up/patcher', input: 'add hello.txt', tools: [APPLY_PATCH] });
    const deltas: string[] = [];
    let done: string | undefined;
    const types: string[] = [];
    s.on('event', (e) => {
      types.push(e.type);
      if (e.type === 'response.custom_tool_call_input.delta') deltas.push(e.delta);
      if (e.type === 'response.custom_tool_call_input.done') done = e.input;
    });
    const final = await s.finalResponse();
    checkOffered();
    expect(deltas.length).toBeGreaterThan(3); // streamed in pieces, escapes split across them
    expect(deltas.join('')).toBe(PATCH_INPUT);
    expect(done).toBe(PATCH_INPUT);
    expect(types).not.toContain('response.function_call_arguments.delta');
    expect(final.output[0]).toMatchObject({ type: 'custom_tool_call', call_id: 'call_patch_1', name: 'apply_patch', input: PATCH_INPUT });
    // The stored response is the streamed one.
    expect((await client.responses.retrieve(final.id)).output[0]).toMatchObject({ type: 'custom_tool_call', input: PATCH_INPUT });
  });

  it('stateless history (store: false, items sent back) carries the call and its output', async () => {
    const r = await client.responses.create({
      model: 'openai-up/patcher',
      store: false,
      tools: [APPLY_PATCH],
      tool_choice: { type: 'custom', name: 'apply_patch' },
      input: [
        { role: 'user', content: 'add hello.txt' },
        { type: 'custom_tool_call', call_id: 'call_x', name: 'apply_patch', input: PATCH_INPUT },
        { type: 'custom_tool_call_output', call_id: 'call_x', output: 'Done!' },
      ],
    });
    expect(r.output_text).toBe('Patched.');
    const sent = upstreams.byKind.openai!.requests.at(-1)!.body;
    expect(sent.tool_choice).toEqual({ type: 'function', function: { name: 'apply_patch' } });
    expect(sent.messages[1].tool_calls[0]).toMatchObject({ id: 'call_x', function: { name: 'apply_patch' } });
    expect(JSON.parse(sent.messages[1].tool_calls[0].function.arguments)).toEqual({ input: PATCH_INPUT });
    expect(sent.messages[2]).toMatchObject({ role: 'tool', tool_call_id: 'call_x', content: 'Done!' });
  });
});

describe('GET /v1/responses/{id}/input_items', () => {
  it('lists the input items with ids, newest first by default, a page at a time', async () => {
    const first = await client.responses.create({ model: 'openai-up/gpt-test', input: 'hi there' });
    const r = await client.responses.create({
      model: 'openai-up/gpt-test',
      input: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'input_text', text: 'one' }] },
        { type: 'item_reference', id: first.output[0]!.id! },
        { role: 'user', content: 'two' },
      ],
    });
    const list = await client.responses.inputItems.list(r.id);
    expect(list.has_more).toBe(false);
    const items = list.data as any[];
    expect(items.map((i) => i.type)).toEqual(['message', 'message', 'message', 'message']);
    expect(items.map((i) => i.role)).toEqual(['user', 'assistant', 'user', 'developer']);
    expect(items[0].content).toEqual([{ type: 'input_text', text: 'two' }]);
    expect(items[1]).toMatchObject({ id: first.output[0]!.id, content: [{ type: 'output_text', text: 'Hello from gpt-test! You said: hi there' }] });
    expect(items.every((i) => typeof i.id === 'string' && i.id !== '')).toBe(true);
    expect(new Set(items.map((i) => i.id)).size).toBe(4);
    // The wire shape the API reference gives.
    const wire = (await (await fetch(`${hub.url}/v1/responses/${r.id}/input_items?limit=3`, { headers: { authorization: `Bearer ${keyA}` } })).json()) as any;
    expect(wire).toEqual({ object: 'list', data: items.slice(0, 3), first_id: items[0].id, last_id: items[2].id, has_more: true });

    // Ascending, two at a time: the SDK follows `after` through every page.
    const asc: any[] = [];
    for await (const item of client.responses.inputItems.list(r.id, { order: 'asc', limit: 2 })) asc.push(item);
    expect(asc.map((i) => i.id)).toEqual(items.map((i) => i.id).reverse());
    const page = await client.responses.inputItems.list(r.id, { order: 'asc', limit: 2 });
    expect(page.has_more).toBe(true);
    expect(page.data).toHaveLength(2);

    // A string input is one user message.
    const one = await client.responses.inputItems.list(first.id);
    expect(one.data).toMatchObject([{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi there' }] }]);
  });

  it('answers 404 for an unknown, deleted or other key’s response and 400 for bad parameters', async () => {
    await expect(client.responses.inputItems.list('resp_nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const r = await client.responses.create({ model: 'openai-up/gpt-test', input: 'hi' });
    const other = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: keyB, maxRetries: 0 });
    await expect(other.responses.inputItems.list(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.inputItems.list(r.id, { limit: 101 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.responses.inputItems.list(r.id, { after: 'msg_nope' })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await client.responses.delete(r.id);
    await expect(client.responses.inputItems.list(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('custom tool input decoding', () => {
  const inputs = [PATCH_INPUT, '', 'plain', 'tab\there "quoted" \\ back\\slash \u00e9\u{1F600} / end', '\u0000\u001f ctrl'];

  it('the streamed deltas add up to the input however the argument JSON is split', () => {
    for (const input of inputs) {
      for (const args of [JSON.stringify({ input }), `{ "input" : ${JSON.stringify(input)} }`, JSON.stringify({ input }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)]) {
        for (let size = 1; size <= 7; size++) {
          const d = new CustomInputDecoder();
          let out = '';
          for (let i = 0; i < args.length; i += size) out += d.push(args.slice(i, i + size));
          expect(out).toBe(input);
        }
      }
    }
  });

  it('arguments in another form stream nothing and come whole in the done event', () => {
    const r = new ResponsesStreamRenderer('resp_1', { model: 'm', tools: [{ type: 'custom', name: 'apply_patch' }] } as any, 0);
    let text = r.start();
    text += r.render({ type: 'tool_call', choice: 0, index: 0, id: 'call_1', name: 'apply_patch', arguments: '*** Begin' });
    text += r.render({ type: 'tool_call', choice: 0, index: 0, arguments: ' Patch' });
    text += r.render({ type: 'finish', choice: 0, reason: 'tool_calls' });
    text += r.end();
    const events = text
      .split('\n\n')
      .filter((b) => b.startsWith('event:'))
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
    expect(events.filter((e) => e.type === 'response.custom_tool_call_input.delta').map((e) => e.delta)).toEqual(['*** Begin Patch']);
    expect(events.find((e) => e.type === 'response.custom_tool_call_input.done').input).toBe('*** Begin Patch');
    expect(r.response!.output).toEqual([expect.objectContaining({ type: 'custom_tool_call', call_id: 'call_1', name: 'apply_patch', input: '*** Begin Patch', status: 'completed' })]);
  });
});

describe('item_reference to a hub-stored item, on a model whose upstream speaks Responses itself', () => {
  it('is resolved here and the request translated, not relayed to an upstream that never saw the item', async () => {
    const { startOpenAIUpstream } = await import('./upstreams/openai.js');
    const loop = await startOpenAIUpstream();
    const native = await startTestHub(`providers:\n  loop: { baseURL: ${loop.baseURL} }\n`);
    const front = await startTestHub(`providers:\n  native: { baseURL: ${native.url}/v1, responsesAPI: true }\n  chat: { baseURL: ${loop.baseURL} }\n`);
    try {
      const c = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const first = await c.responses.create({ model: 'chat/gpt-test', input: 'hi there' });
      const r = await c.responses.create({
        model: 'native/loop/gpt-test',
        input: [{ role: 'user', content: 'hi there' }, { type: 'item_reference', id: first.output[0]!.id! }, { role: 'user', content: 'again' }],
      });
      expect(r.output_text).toBe('Hello from gpt-test! You said: again');
      // The front hub answered (and keeps the response); the native one got a chat request with the referenced turn.
      expect(await front.store.responses.load(r.id)).toBeDefined();
      expect(await native.store.responses.load(r.id)).toBeUndefined();
      expect(JSON.stringify(loop.requests.at(-1)!.body.messages)).toContain('Hello from gpt-test! You said: hi there');
    } finally {
      await front.dispose();
      await native.dispose();
      await loop.close();
    }
  });
});

describe('stored items', () => {
  it('are pruned with the stored bodies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baimo-items-'));
    const store = openSQLiteStores(dir);
    try {
      await store.responses.save({ id: 'resp_1', keyId: undefined, response: {}, history: [], input: [{ id: 'msg_in', type: 'message' }], output: [{ id: 'msg_out', type: 'message' }] });
      expect(await store.responses.findItem('msg_out', undefined)).toEqual({ id: 'msg_out', type: 'message' });
      expect(await store.responses.findItem('msg_out', 'key_other')).toBeUndefined();
      await store.prune(undefined, Date.now() + 1000);
      expect(await store.responses.findItem('msg_in', undefined)).toBeUndefined();
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM response_items').get()).toEqual({ n: 0 });
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
