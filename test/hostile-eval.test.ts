/**
 * Hostile input against the evaluation surface and the `route` virtual model:
 * - `POST /v1/evals/runs` with malformed JSON, a 5 MB suite, YAML alias bombs, deep nesting,
 *   `file://` in every spelling and place, template abuse (`{{`, `{%` by the megabyte), unknown or
 *   absurd providers, 10^6 tests and out-of-range options: each a 4xx in OpenAI's error shape,
 *   nothing sent upstream, no run created, and another key served while they are refused;
 * - an upstream that echoes its API key in its errors, as the model under test, the grader and
 *   the embedder of a run: the key is in no API answer (run, results, reports, compare), no
 *   stored row or file of the data directory, no log line — on SQLite and on PostgreSQL;
 * - `kind: route` with a classifier that answers garbage, an unknown kind or fails, and an
 *   embedder that fails: the documented fallback (the best model over all kinds) with the reason
 *   in the trace, never a crash; unusable evidence at config load: an error naming the key path.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/eval/template.js';
import { startHub } from '../src/server/start.js';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-hostile-eval-00000000';
const LOOP_SECRET = 'sk-upstream-loop-secret-hostile-eval-0000';
const EVIL_SECRET = 'sk-upstream-evil-secret-hostile-eval-7777';
type Json = Record<string, any>;

/**
 * An OpenAI-compatible upstream that misbehaves by model name, each error carrying its own key:
 * `leak-401` (OpenAI's wrong-key error, unmasked), `leak-500` (a plain-text 500), `leak-garbage`
 * (200 with HTML), `leak-stream` (an error event mid-stream), embeddings `leak-embed` (500);
 * and two well-behaved chat models for the route classifier: `says-garbage`, `says-poetry`.
 */
async function startEvilUpstream(): Promise<{ baseURL: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits++;
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${EVIL_SECRET}`) return json(401, { error: { message: 'no key', type: 'invalid_request_error', param: null, code: null } });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
      const answer = (text: string) => {
        const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
        if (!body.stream) return json(200, { id: 'c1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage });
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta: unknown, finish: string | null, u?: unknown) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: body.model, choices: delta === undefined ? [] : [{ index: 0, delta, finish_reason: finish }], ...(u ? { usage: u } : {}) })}\n\n`;
        res.end(`${chunk({ role: 'assistant', content: text }, null)}${chunk({}, 'stop')}${chunk(undefined, null, usage)}data: [DONE]\n\n`);
      };
      switch (body.model) {
        case 'leak-401':
          return json(401, { error: { message: `Incorrect API key provided: ${EVIL_SECRET}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
        case 'leak-500':
        case 'leak-embed':
          res.writeHead(500, { 'content-type': 'text/plain' });
          return res.end(`internal error while serving key ${EVIL_SECRET} (authorization: Bearer ${EVIL_SECRET})`);
        case 'leak-garbage':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(`<html>${EVIL_SECRET}</html>`);
        case 'leak-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          return res.end(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] })}\n\ndata: ${JSON.stringify({ error: { message: `key ${EVIL_SECRET} was revoked`, type: 'server_error' } })}\n\n`);
        case 'says-garbage':
          return answer('¯\\_(ツ)_/¯ {"kind": 42} zzz');
        case 'says-poetry':
          return answer('poetry');
        default:
          return json(404, { error: { message: `no model ${body.model}`, type: 'invalid_request_error', param: null, code: null } });
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A run's JSON output as evidence, written by hand: loop/grader (cheaper) is good for chat, only loop/gpt-test for expert. */
function evidence(): unknown {
  const results: Json[] = [];
  for (let i = 0; i < 6; i++) {
    for (const [kind, q] of [
      ['chat', `chat: say hi number ${i}`],
      ['expert', `expert: explain topic ${i}`],
    ] as const) {
      const testIdx = results.length / 2;
      results.push({ testIdx, provider: { id: 'loop/grader' }, vars: { kind, q }, prompt: { raw: q }, success: kind === 'chat', cost: 0.0001 });
      results.push({ testIdx, provider: { id: 'loop/gpt-test' }, vars: { kind, q }, prompt: { raw: q }, success: true, cost: 0.001 });
    }
  }
  return { results: { results } };
}

let loop: OpenAIUpstream;
let evil: Awaited<ReturnType<typeof startEvilUpstream>>;
let dir: string;
let evidencePath: string;

function config(extra = ''): string {
  return `providers:
  loop:
    baseURL: ${loop.baseURL}
    apiKey: \${LOOP_KEY}
    models: [gpt-test, grader, json]
    embeddingModels: [embed]
  evil:
    baseURL: ${evil.baseURL}
    apiKey: \${EVIL_KEY}
    models: [leak-401, leak-500, leak-garbage, leak-stream, says-garbage, says-poetry]
    embeddingModels: [leak-embed]
pricing:
  models:
    loop/gpt-test: { input: 2, output: 8 }
    loop/grader: { input: 1, output: 1 }
    evil/leak-401: { input: 1, output: 1 }
${extra && `virtualModels:\n${extra}`}`;
}
const ENV = () => ({ LOOP_KEY: LOOP_SECRET, EVIL_KEY: EVIL_SECRET, BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, OLLAMA_BASE_URL: '' });

beforeAll(async () => {
  loop = await startOpenAIUpstream({ apiKey: LOOP_SECRET });
  evil = await startEvilUpstream();
  dir = mkdtempSync(join(tmpdir(), 'baimo-hostile-eval-'));
  evidencePath = join(dir, 'evidence.json');
  writeFileSync(evidencePath, JSON.stringify(evidence()));
});
afterAll(async () => {
  await loop?.close();
  await evil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(url: string, key: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: Json | undefined;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      json = undefined;
    }
    return { status: res.status, json: json as Json, text };
  };
  return {
    call,
    async until(id: string): Promise<Json> {
      for (let i = 0; i < 600; i++) {
        const r = await call('GET', `/v1/evals/runs/${id}`);
        if (!['queued', 'running'].includes(r.json?.status)) return r.json;
        await new Promise((s) => setTimeout(s, 50));
      }
      throw new Error(`run ${id} did not finish`);
    },
  };
}

async function newKey(url: string): Promise<string> {
  const res = await fetch(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hostile' }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

const expectOpenAIError = (r: { status: number; json: Json; text: string }, status: number | number[], label = '') => {
  expect([status].flat(), `${label}: ${r.text.slice(0, 300)}`).toContain(r.status);
  expect(r.json?.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
  expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(r.text).not.toContain(LOOP_SECRET);
  expect(r.text).not.toContain(EVIL_SECRET);
};

describe('POST /v1/evals/runs with hostile suites', () => {
  let hub: TestHub;
  let A: ReturnType<typeof client>;
  let B: ReturnType<typeof client>;
  beforeAll(async () => {
    hub = await startTestHub(config(), ENV());
    A = client(hub.url, await newKey(hub.url));
    B = client(hub.url, await newKey(hub.url));
  });
  afterAll(() => hub?.dispose());

  const ok = "prompts: ['x']\nproviders: [loop/gpt-test]\n";
  const laughs = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`)];
  const cases: [string, unknown, number | number[], RegExp?][] = [
    ['malformed JSON', '{"suite": "prompts: [x]", ', 400, /not valid JSON/],
    ['an empty body', '', 400],
    ['JSON null', 'null', 400],
    ['a JSON array', '[{"suite": "x"}]', 400],
    ['a JSON string', '"suite"', 400],
    ['a 5 MB suite planning over 50,000 calls', { suite: `${ok}tests:\n${'  - vars: { q: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa }\n'.repeat(75_000)}` }, 400, /calls|tests/],
    // Each template is scanned at submission: 5 MB of unclosed `{%` took hours to scan (quadratic) and held the event loop.
    ['a 5 MB prompt of {% without an end (and an unknown provider)', { suite: { prompts: ['{%'.repeat(2_500_000)], providers: ['nowhere/model'] } }, 400, /nowhere\/model/],
    ['a 5 MB prompt of {% closed at its end', { suite: { prompts: [`${'{%'.repeat(2_500_000)}%}`], providers: ['loop/gpt-test'] } }, 400, /statements/],
    ['billion laughs in YAML', { suite: `${ok}defaultTest:\n  vars:\n${laughs.map((l) => `    ${l}`).join('\n')}\n` }, 400, /alias|resource/i],
    ['merge-key bomb in YAML', { suite: `${ok}m0: &m0 {x: 1}\n${Array.from({ length: 24 }, (_, i) => `m${i + 1}: &m${i + 1} {<<: [*m${i}, *m${i}], y${i}: 1}`).join('\n')}\n` }, 400, /alias|resource/i],
    ['100k-deep YAML flow nesting', { suite: `${ok}defaultTest: { vars: { v: ${'['.repeat(100_000)}${']'.repeat(100_000)} } }\n` }, 400],
    ['3,000-deep YAML block nesting (4.5 MB)', { suite: `${ok}defaultTest:\n  vars:\n${Array.from({ length: 3_000 }, (_, i) => `${' '.repeat(4 + i)}k${i}:`).join('\n')} 1\n` }, 400],
    ['100k-deep JSON nesting', `{"suite":{"prompts":["x"],"providers":["loop/gpt-test"],"defaultTest":{"vars":{"v":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}}`, 400],
    ['file:// as the tests', { suite: `${ok}tests: file:///etc/passwd\n` }, 400, /file:\/\//],
    ['FILE:// in capitals in a prompt', { suite: { prompts: ['FILE:///etc/passwd'], providers: ['loop/gpt-test'] } }, 400, /file:\/\//],
    ['file:// with spaces before it in a var', { suite: { prompts: ['{{ v }}'], providers: ['loop/gpt-test'], tests: [{ vars: { v: '   file://../../../etc/shadow' } }] } }, 400, /file:\/\//],
    ['file:// in an assertion value', { suite: { prompts: ['x'], providers: ['loop/gpt-test'], tests: [{ assert: [{ type: 'equals', value: 'file://secret.txt' }] }] } }, 400, /file:\/\//],
    ['file:// deep inside a var', { suite: { prompts: ['x'], providers: ['loop/gpt-test'], defaultTest: { vars: { a: { b: [{ c: 'file:///root/.ssh/id_rsa' }] } } } } }, 400, /defaultTest\.vars\.a\.b\[0\]\.c/],
    ['{{ code }} in a prompt', { suite: { prompts: ["{{ constructor.constructor('return process')() }}"], providers: ['loop/gpt-test'] } }, 400, /not a variable reference/],
    ['{% statements %} in a prompt', { suite: { prompts: ['{% for x in range(1e9) %}x{% endfor %}'], providers: ['loop/gpt-test'] } }, 400, /statements/],
    ['an unknown template filter', { suite: { prompts: ['{{ q | safe }}'], providers: ['loop/gpt-test'] } }, 400, /unknown filter 'safe'/],
    ['an unknown provider', { suite: { prompts: ['x'], providers: ['nowhere/model'] } }, 400, /nowhere\/model/],
    ['a 10k-character provider name', { suite: { prompts: ['x'], providers: ['p'.repeat(10_000)] } }, 400],
    ['a provider that is a path', { suite: { prompts: ['x'], providers: ['../../etc/passwd'] } }, 400],
    ['a provider that is not a string', { suite: { prompts: ['x'], providers: [{ id: 42 }] } }, 400],
    ['10^6 tests', `{"suite":{"prompts":["x"],"providers":["loop/gpt-test"],"tests":[${Array(1_000_000).fill('{}').join(',')}]}}`, 400, /tests/],
    // The yaml package resolves each alias by walking the document: 10^5 of them took 203 s of the event loop.
    ['10^5 aliases in a 300 KB suite', { suite: `${ok}t: &t {}\ntests: [${Array(100_000).fill('*t').join(',')}]\n` }, 400, /aliases/],
    ['repeat 0', { suite: ok, repeat: 0 }, 400, /repeat/],
    ['repeat 10^9', { suite: ok, repeat: 1e9 }, 400, /repeat/],
    ['repeat as a string', { suite: ok, repeat: '2' }, 400, /repeat/],
    ['concurrency 65', { suite: ok, concurrency: 65 }, 400, /concurrency/],
    ['concurrency -1', { suite: ok, concurrency: -1 }, 400, /concurrency/],
    ['concurrency 1.5', { suite: ok, concurrency: 1.5 }, 400, /concurrency/],
    ['maxCostUsd 1e309 (Infinity)', '{"suite":"prompts: [x]\\nproviders: [loop/gpt-test]\\n","maxCostUsd":1e309}', 400, /maxCostUsd/],
    ['repeat × tests over the call limit', { suite: `${ok}tests:\n${'  - {}\n'.repeat(1000)}`, repeat: 100 }, 400, /calls/],
  ];

  it('refuses each with a 4xx in OpenAI’s shape, sends nothing upstream, creates no run, and serves another key meanwhile', async () => {
    const upstreamBefore = loop.requests.length;
    const evilBefore = evil.hits();
    const slowest: [string, number][] = [];
    for (const [name, body, status, message] of cases) {
      const t0 = performance.now();
      // Another key's ordinary request at the same moment is answered.
      const [r, other] = await Promise.all([A.call('POST', '/v1/evals/runs', body), B.call('POST', '/v1/chat/completions', { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'still there?' }] })]);
      slowest.push([name, performance.now() - t0]);
      expect(other.status, name).toBe(200);
      expect(other.json.choices[0].message.content).toContain('still there?');
      expectOpenAIError(r, status, name);
      if (message) expect(r.json.error.message, name).toMatch(message);
      // Nothing of the hostile text comes back in bulk.
      expect(r.text.length, name).toBeLessThan(4096);
    }
    // Only B's chat requests reached an upstream.
    expect(loop.requests.length - upstreamBefore).toBe(cases.length);
    expect(evil.hits()).toBe(evilBefore);
    const runs = await A.call('GET', '/v1/evals/runs');
    expect(runs.status).toBe(200);
    expect(runs.json.data).toEqual([]);
    slowest.sort((a, b) => b[1] - a[1]);
    // Shown for the report, not asserted (speed belongs to bench/).
    console.log(`hostile eval submissions, slowest: ${slowest.slice(0, 3).map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`).join(', ')}`);
  }, 240_000);

  it('a body over the hub’s limit is a 413 in OpenAI’s shape', async () => {
    const r = await A.call('POST', '/v1/evals/runs', { suite: `${ok}# ${'x'.repeat(33 * 1024 * 1024)}` });
    expectOpenAIError(r, 413);
  }, 60_000);

  it('a large suite is checked off the event loop: the hub answers others while it is parsed', async () => {
    // 400,000 YAML nodes (2.4 MB): seconds of parsing, which used to hold every other request.
    const big = { suite: `${ok}x:\n${'  - a\n'.repeat(400_000)}` };
    const order: string[] = [];
    const submit = A.call('POST', '/v1/evals/runs', big).then((r) => (order.push('suite'), r));
    // Give the submission time to be read and handed to its thread, then ask for health five times in a row.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 5; i++) {
      const h = await fetch(`${hub.url}/healthz`);
      expect(h.status).toBe(200);
      order.push('health');
    }
    const r = await submit;
    expectOpenAIError(r, 400, 'big suite');
    expect(r.json.error.message).toMatch(/unknown key 'x'/);
    expect(order.slice(0, 5)).toEqual(['health', 'health', 'health', 'health', 'health']);
  }, 120_000);

  it('a suite that cannot be checked in time is a suite error, and the thread is gone', async () => {
    const { checkApiSuite } = await import('../src/eval/api-suite.js');
    await expect(checkApiSuite(`${ok}x:\n${'  - a\n'.repeat(400_000)}`, 's.yaml', { timeoutMs: 1 })).rejects.toThrow(/too large to check in 0 s/);
    // A small one is still checked (inline), and a large valid one on the thread gives the same suite as inline.
    const tests = Array.from({ length: 3000 }, (_, i) => ({ vars: { q: `question ${i} ${'x'.repeat(20)}` } }));
    const doc = { prompts: ['{{ q }}'], providers: ['loop/gpt-test'], tests };
    const threaded = await checkApiSuite(doc, 's.yaml');
    expect(JSON.stringify(doc).length).toBeGreaterThan(64 * 1024);
    expect(threaded.suite.tests).toHaveLength(3000);
    expect(threaded.suite.tests[2999]!.vars).toEqual({ q: `question 2999 ${'x'.repeat(20)}` });
    expect(threaded.text).toBe(JSON.stringify(doc));
  }, 60_000);

  it('a template of a megabyte of unclosed {% renders in linear time, as written', () => {
    // Rendering runs per cell: quadratic scanning here would stall the hub's event loop mid-run.
    const t = `${'{%'.repeat(500_000)} {{ q }} {{ q | upper }}`;
    expect(render(t, { q: 'ok' })).toBe(`${'{%'.repeat(500_000)} ok OK`);
    expect(render('a {% x %} {{ q }} %} {%', { q: 1 })).toBe('a {% x %} 1 %} {%');
    expect(render('{{ q }}{%{{ q }}', { q: 'z' })).toBe('z{%z');
  });
});

/** Every file under `root`, recursively, as bytes. */
function filesUnder(root: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    const s = statSync(p);
    if (s.isDirectory()) out.push(...filesUnder(p));
    else if (s.isFile()) out.push({ path: p, bytes: readFileSync(p) });
  }
  return out;
}

const LEAKY_SUITE = `description: an upstream that tells its key
prompts: ['Say {{ q }}']
providers: [loop/gpt-test, evil/leak-401, evil/leak-500, evil/leak-garbage, evil/leak-stream]
defaultTest:
  options:
    provider: { text: evil/leak-401, embedding: evil/leak-embed }
tests:
  - vars: { q: one }
    assert:
      - { type: llm-rubric, value: 'is polite' }
      - { type: factuality, value: 'one', provider: evil/leak-500 }
      - { type: answer-relevance, provider: evil/leak-stream }
      - { type: similar, value: 'Say one' }
  - vars: { q: two }
    assert: [{ type: llm-rubric, value: 'says two', provider: evil/leak-garbage }]
`;

function leakSweep(name: string, start: () => Promise<{ hub: TestHub<any>; logs: () => string; stored: () => Promise<string[]>; stop: () => Promise<void> }>) {
  describe(name, () => {
    let hub: TestHub<any>;
    let logs: () => string;
    let stored: () => Promise<string[]>;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ hub, logs, stored, stop } = await start());
    }, 60_000);
    afterAll(() => stop?.());

    it('an upstream echoing its key as model, grader and embedder: the key is in no answer, stored row, file or log line', async () => {
      const A = client(hub.url, await newKey(hub.url));
      const first = await A.call('POST', '/v1/evals/runs', { suite: LEAKY_SUITE, noCache: true });
      expect(first.status).toBe(202);
      const second = await A.call('POST', '/v1/evals/runs', { suite: LEAKY_SUITE.replace('is polite', 'is kind'), noCache: true });
      expect(second.status).toBe(202);
      const runs = [first.json.id as string, second.json.id as string];
      for (const id of runs) expect((await A.until(id)).status).toBe('completed');

      const answers: { what: string; text: string }[] = [];
      for (const id of runs) {
        for (const path of [`/v1/evals/runs/${id}`, `/v1/evals/runs/${id}/results?limit=1000`, `/v1/evals/runs/${id}/report?format=json`, `/v1/evals/runs/${id}/report?format=junit`, `/v1/evals/runs/${id}/report?format=html`]) {
          const r = await A.call('GET', path);
          expect(r.status, path).toBe(200);
          answers.push({ what: path, text: r.text });
        }
      }
      const cmp = await A.call('GET', `/v1/evals/compare?a=${runs[0]}&b=${runs[1]}`);
      expect(cmp.status).toBe(200);
      answers.push({ what: 'compare', text: cmp.text });
      answers.push({ what: 'list', text: (await A.call('GET', '/v1/evals/runs')).text });

      // The sweep saw the errors it was meant to: every evil model failed, every grader call was made and failed.
      const results = JSON.parse(answers[1]!.text).data as Json[];
      expect(results).toHaveLength(10);
      const failedModels = results.filter((c) => c.error !== null).map((c) => c.provider.id);
      expect(new Set(failedModels)).toEqual(new Set(['evil/leak-401', 'evil/leak-500', 'evil/leak-garbage', 'evil/leak-stream']));
      const graded = results.filter((c) => c.provider.id === 'loop/gpt-test').flatMap((c) => c.gradingResult.componentResults as Json[]);
      expect(graded).toHaveLength(5);
      expect(graded.every((g) => g.pass === false && /failed|did not answer|upstream|error/i.test(g.reason))).toBe(true);
      expect(evil.hits()).toBeGreaterThan(0);

      for (const a of answers) {
        expect(a.text, a.what).not.toContain(EVIL_SECRET);
        expect(a.text, a.what).not.toContain(LOOP_SECRET);
      }
      const rows = await stored();
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row).not.toContain(EVIL_SECRET);
      const log = logs();
      expect(log).not.toContain(EVIL_SECRET);
      expect(log).not.toContain(LOOP_SECRET);
    }, 120_000);
  });
}

leakSweep('on SQLite', async () => {
  let logText = '';
  const hub = await startTestHub(config(), ENV(), { write: (line: string) => void (logText += line) });
  return {
    hub,
    logs: () => logText,
    async stored() {
      const db = new Database(join(hub.dir, 'data', 'baimo.db'), { readonly: true });
      const rows: string[] = [];
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
        expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['eval_runs', 'eval_results']));
        for (const { name } of tables) for (const r of db.prepare(`SELECT * FROM "${name}"`).all()) rows.push(`${name} ${JSON.stringify(r)}`);
      } finally {
        db.close();
      }
      expect(rows.some((r) => r.startsWith('eval_results '))).toBe(true);
      // And every byte of the data directory: database, WAL, journal, answer cache.
      for (const f of filesUnder(join(hub.dir, 'data'))) rows.push(`${f.path} ${f.bytes.toString('latin1')}`);
      return rows;
    },
    stop: () => hub.dispose(),
  };
});

leakSweep('on PostgreSQL', async () => {
  const db: TestDatabase = await createTestDatabase();
  const hub = await startSharedTestHub(config(), { databaseUrl: db.url }, ENV());
  return {
    hub,
    logs: () => '',
    async stored() {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const rows: string[] = [];
      try {
        const tables = (await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).rows.map((r) => r.table_name as string);
        expect(tables).toEqual(expect.arrayContaining(['eval_runs', 'eval_results']));
        for (const t of tables) for (const r of (await c.query(`SELECT t::text AS row FROM "${t}" t`)).rows) rows.push(`${t} ${r.row as string}`);
      } finally {
        await c.end();
      }
      expect(rows.some((r) => r.startsWith('eval_results '))).toBe(true);
      return rows;
    },
    async stop() {
      await hub.dispose();
      await db.drop();
    },
  };
});

describe('kind: route with a classifier that misbehaves', () => {
  let hub: TestHub;
  let logText = '';
  let c: OpenAI;
  const route = (name: string, classifier: string) => `  ${name}:\n    kind: route\n    evidence: ${'${EVIDENCE}'}\n    bar: 0.9\n    classifier: ${classifier}\n`;
  beforeAll(async () => {
    hub = await startTestHub(
      config(route('by-garbage', '{ model: evil/says-garbage }') + route('by-poetry', '{ model: evil/says-poetry }') + route('by-failure', '{ model: evil/leak-500 }') + route('by-leaky-401', '{ model: evil/leak-401 }') + route('by-broken-embedder', '{ embeddings: evil/leak-embed }') + route('by-good', '{ model: loop/grader }')),
      { ...ENV(), EVIDENCE: evidencePath },
      { write: (line: string) => void (logText += line) },
    );
    c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: await newKey(hub.url), maxRetries: 0 });
  }, 60_000);
  afterAll(() => hub?.dispose());

  type Traced = { choices: { message: { content: string } }[]; baimo_trace: { summary: Json; steps: Json[] } };

  it('garbage, an unknown kind, a failed classifier or embedder: the best model over all kinds answers, the trace says why', async () => {
    for (const model of ['by-garbage', 'by-poetry', 'by-failure', 'by-leaky-401', 'by-broken-embedder']) {
      const r = (await c.chat.completions.create({ model, messages: [{ role: 'user', content: 'chat: good morning' }] })) as unknown as Traced;
      expect(r.choices[0]!.message.content, model).toContain('Hello from gpt-test');
      expect(r.baimo_trace.summary, model).toMatchObject({ model: 'loop/gpt-test', kind: null });
      expect(String(r.baimo_trace.summary.reason), model).toMatch(/kind unknown|classifier failed/);
      const text = JSON.stringify(r);
      expect(text).not.toContain(EVIL_SECRET);
      expect(text).not.toContain(LOOP_SECRET);
    }
    // The well-behaved classifier still routes chat to the cheaper model: the fallback is not the rule.
    const good = (await c.chat.completions.create({ model: 'by-good', messages: [{ role: 'user', content: 'chat: good morning' }] })) as unknown as Traced;
    expect(good.baimo_trace.summary).toMatchObject({ kind: 'chat', model: 'loop/grader' });
    // Streaming the same fallbacks: a whole answer, no error event.
    for (const model of ['by-failure', 'by-broken-embedder']) {
      let text = '';
      for await (const chunk of await c.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'expert: tides?' }] })) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text, model).toContain('Hello from gpt-test');
    }
    expect(logText).not.toContain(EVIL_SECRET);
    expect(logText).not.toContain(LOOP_SECRET);
  }, 120_000);

  it('evidence missing or unusable at config load: a config error naming virtualModels.<name>.evidence', async () => {
    const bad = (content: string | undefined, file = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`)) => {
      if (content !== undefined) writeFileSync(file, content);
      return file;
    };
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /no such file/],
      [bad('{"results": '), /not JSON/],
      [bad('[]'), /results\.results/],
      [bad('{"results": {"results": [null]}}'), /results\[0\]/],
      [bad(JSON.stringify({ results: { results: [{ provider: { id: 'loop/grader' }, vars: { topic: 'chat' } }] } })), /var 'kind'/],
      [bad(JSON.stringify({ results: { results: [{ provider: { id: 'loop/grader' }, vars: { kind: { $gt: '' } } }] } })), /var 'kind'/],
      [bad(JSON.stringify({ results: { results: [{ provider: { id: 'loop/grader' }, vars: { kind: 'chat' }, error: 'x' }] } })), /no results without errors/],
      [dir, /not a (regular )?file|directory/],
      ['/dev/zero', /not a (regular )?file/],
    ];
    for (const [file, reason] of cases) {
      const cfgDir = mkdtempSync(join(dir, 'cfg-'));
      const cfg = join(cfgDir, 'baimo.yaml');
      writeFileSync(cfg, config(route('smart', '{ model: loop/grader }')));
      const started = startHub({ config: cfg, port: '0', host: '127.0.0.1', dataDir: join(cfgDir, 'data'), env: { ...ENV(), EVIDENCE: file, BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });
      const err = await started.then(
        async (h) => {
          await h.close();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err, file).toBeInstanceOf(Error);
      expect(err!.message, file).toContain('virtualModels.smart.evidence');
      expect(err!.message, file).toMatch(reason);
      expect(err!.message).not.toContain(EVIL_SECRET);
    }
  }, 120_000);
});
