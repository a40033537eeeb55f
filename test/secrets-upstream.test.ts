import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import type { WireFormat } from '../src/providers/index.js';

/**
 * Issue 16, section 2: an upstream that echoes the hub's credential on every error path (401,
 * 400, 500 JSON; an HTML 502; base64 and Basic-auth encodings of it; a mid-stream error event)
 * in OpenAI-compatible, Anthropic and Gemini wire formats, called through all three client
 * endpoints, streaming and not, with body capture on. The key appears in no response byte, no
 * stored record or body (admin and the key holder's view, and the data files themselves) and
 * no log line. The keys are not `sk-`/`AIza`/JWT-shaped, so no pattern can catch them: only the
 * configured values can.
 */

const KEYS = {
  // GLM's `id.secret` form.
  glm: '3f2a9c0d7b1e4f60a8c2d5e7f9b1c3e1.Xy7QpLmZr9Wv2KdT',
  // Characters that URL-encode and JSON-escape differently; relayed as is for Responses.
  oai: 'proj_7Hq2/Lm+Zp9Rt4Wv8Xy1=Kd3"q\\z',
  ant: 'ant.9d8c7b6a5f4e3d2c1b0a.Q7rTy',
  gem: 'gm_51c2e8d4a7b94f03b6e1d9c2a8f7e6d5',
} as const;
type Provider = keyof typeof KEYS;
const PROVIDERS = Object.keys(KEYS) as Provider[];
const WIRE: Record<Provider, WireFormat> = { glm: 'openai', oai: 'openai', ant: 'anthropic', gem: 'gemini' };
const SCENARIOS = ['e401', 'e400', 'e500', 'html502', 'b64', 'midstream'] as const;
type Scenario = (typeof SCENARIOS)[number];
const ENDPOINTS = ['chat', 'messages', 'responses'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

const ADMIN = 'sk-baimo-admin-secrets-0000000000000';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The credential a request carried, in whichever header its wire format uses. */
function credential(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  return String(req.headers['x-api-key'] ?? req.headers['x-goog-api-key'] ?? '');
}

/** Every way the upstream echoes the key back in a message. */
function echo(scenario: Scenario, key: string): string {
  switch (scenario) {
    case 'e401':
      return `Incorrect API key provided: ${key}. You can find your API key in your account.`;
    case 'b64':
      return `auth header was Basic ${b64(`user:${key}`)}; bare ${b64(key)}; colon ${b64(`:${key}`)}; url ${encodeURIComponent(key)}; quoted ${JSON.stringify(key)}`;
    default:
      return `request from key ${key} (${b64(key)}) failed: ${scenario}`;
  }
}

function errorBody(wire: WireFormat, status: number, message: string): unknown {
  if (wire === 'anthropic') {
    const type = status === 401 ? 'authentication_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
    return { type: 'error', error: { type, message } };
  }
  if (wire === 'gemini') {
    const rpc = status === 401 ? 'UNAUTHENTICATED' : status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
    return { error: { code: status, message, status: rpc } };
  }
  return { error: { message, type: status === 401 ? 'invalid_request_error' : status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: status === 401 ? 'invalid_api_key' : null } };
}

/** The first, normal event of a stream, then (after a pause, so it is relayed on its own) the error event. */
function streamEvents(wire: WireFormat, path: string, model: string, message: string): [string, string] {
  if (wire === 'anthropic') {
    return [
      `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } })}\n\n`,
      `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`,
    ];
  }
  if (wire === 'gemini') {
    return [
      `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, index: 0 }], modelVersion: model })}\n\n`,
      `data: ${JSON.stringify({ error: { code: 500, message, status: 'INTERNAL' } })}\n\n`,
    ];
  }
  if (path.endsWith('/responses')) {
    const response = { id: 'resp_1', object: 'response', status: 'in_progress', model, output: [], error: null };
    return [
      `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response })}\n\n`,
      `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', sequence_number: 1, response: { ...response, status: 'failed', error: { code: 'server_error', message } } })}\n\n` +
        `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message, param: null, sequence_number: 2 })}\n\n`,
    ];
  }
  return [
    `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] })}\n\n`,
    `data: ${JSON.stringify({ error: { message, type: 'server_error', code: null } })}\n\n`,
  ];
}

/** One loopback server speaking all three wire formats under /openai, /anthropic and /gemini. */
function startEchoUpstream(): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const wire = path.startsWith('/anthropic') ? 'anthropic' : path.startsWith('/gemini') ? 'gemini' : 'openai';
      const body = JSON.parse(raw || '{}') as { model?: string; stream?: boolean };
      const model = wire === 'gemini' ? decodeURIComponent(/models\/([^:]+):/.exec(path)?.[1] ?? '') : String(body.model);
      hits.set(model, (hits.get(model) ?? 0) + 1);
      const scenario = model.split('-')[0] as Scenario;
      const message = echo(scenario, credential(req));
      const json = (status: number, doc: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      };
      switch (scenario) {
        case 'e401':
          return json(401, errorBody(wire, 401, message));
        case 'e400':
        case 'b64':
          return json(400, errorBody(wire, 400, message));
        case 'e500':
          return json(500, errorBody(wire, 500, message));
        case 'html502':
          res.writeHead(502, { 'content-type': 'text/html' });
          return res.end(`<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>${message}</p></body></html>`);
        case 'midstream': {
          const streaming = wire === 'gemini' || body.stream === true;
          if (!streaming) {
            // A non-streaming answer that reports its failure in a 200 body.
            if (path.endsWith('/responses')) return json(200, { id: 'resp_1', object: 'response', status: 'failed', model, output: [], error: { code: 'server_error', message } });
            return json(200, errorBody(wire, 500, message));
          }
          const [first, error] = streamEvents(wire, path, model, message);
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          res.write(first);
          setTimeout(() => res.end(error), 30);
          return;
        }
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        hits,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

/**
 * Whether `text` gives the key away: its middle as is or URL-encoded, or inside any base64 or
 * base64url run, whatever its alignment (a Basic credential, `:key`, the key alone). Independent
 * of how the hub finds secrets: it decodes everything that looks encoded.
 */
function leaks(text: string, key: string): string | undefined {
  const middle = key.slice(3, -3);
  const forms = [middle, encodeURIComponent(middle), JSON.stringify(middle).slice(1, -1)];
  for (const f of forms) if (text.includes(f)) return `contains ${JSON.stringify(f)}`;
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{12,}/g)) {
    const run = m[0];
    for (let skip = 0; skip < 4; skip++) {
      for (const alphabet of ['base64', 'base64url'] as const) {
        const decoded = Buffer.from(run.slice(skip), alphabet).toString('latin1');
        // A decoded run that holds most of the key (its boundary bytes may have been left behind).
        if (decoded.includes(key.slice(4, -4))) return `base64 run ${run} decodes to the key`;
      }
    }
  }
  return undefined;
}

/** Where `text` gives any provider's key away, as `where: how` lines (none: nothing leaked). */
function keyLeaks(where: string, text: string): string[] {
  const out: string[] = [];
  for (const [p, key] of Object.entries(KEYS)) {
    const leak = leaks(text, key);
    if (leak) out.push(`${where} leaks ${p}'s key: ${leak}`);
  }
  return out;
}

function expectNoKey(where: string, text: string): void {
  expect(keyLeaks(where, text)).toEqual([]);
}

interface Probe {
  readonly provider: Provider;
  readonly scenario: Scenario;
  readonly endpoint: Endpoint;
  readonly stream: boolean;
  readonly model: string;
}

const probes: Probe[] = [];
for (const provider of PROVIDERS) {
  for (const scenario of SCENARIOS) {
    for (const endpoint of ENDPOINTS) {
      for (const stream of [false, true]) {
        // One upstream model per probe: each has its own deployment and circuit, so every probe reaches the upstream.
        probes.push({ provider, scenario, endpoint, stream, model: `${scenario}-${endpoint}-${stream ? 's' : 'n'}` });
      }
    }
  }
}

let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
let hub: TestHub;
let closed = false;
let userKey: { id: string; key: string };
let logs = '';
const results: { probe: Probe; status: number; text: string; requestId: string }[] = [];

async function call(p: Probe, on: { url: string } = hub, key = userKey.key): Promise<{ status: number; text: string; requestId: string }> {
  const model = `${p.provider}/${p.model}`;
  const [path, body] =
    p.endpoint === 'chat'
      ? ['/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, stream: p.stream }]
      : p.endpoint === 'messages'
        ? ['/v1/messages', { model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], stream: p.stream }]
        : ['/v1/responses', { model, input: 'hi', stream: p.stream }];
  const res = await fetch(`${on.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), requestId: res.headers.get('x-request-id') ?? '' };
}

const echoingConfig = () => `providers:
  glm: { baseURL: ${upstream.url}/openai/v1, apiKey: "\${GLM_KEY}" }
  oai: { baseURL: ${upstream.url}/openai/v1, apiKey: "\${OAI_KEY}", responsesAPI: true }
  ant: { type: anthropic, baseURL: ${upstream.url}/anthropic, apiKey: "\${ANT_KEY}" }
  gem: { type: gemini, baseURL: ${upstream.url}/gemini/v1beta, apiKey: "\${GEM_KEY}" }
logging: { bodies: true }
`;
const echoingEnv = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, GLM_KEY: KEYS.glm, OAI_KEY: KEYS.oai, ANT_KEY: KEYS.ant, GEM_KEY: KEYS.gem };

beforeAll(async () => {
  upstream = await startEchoUpstream();
  hub = await startTestHub(echoingConfig(), echoingEnv, { write: (s: string) => void (logs += s) });
  userKey = await createKey(hub.url, ADMIN, { name: 'holder' });
  // All probes, a batch at a time (retries of 5xx wait a little each).
  for (let i = 0; i < probes.length; i += 24) {
    const batch = probes.slice(i, i + 24);
    const done = await Promise.all(batch.map((p) => call(p)));
    done.forEach((d, j) => results.push({ probe: batch[j]!, ...d }));
  }
}, 120_000);

afterAll(async () => {
  if (!closed) await hub?.dispose();
  else rmSync(hub.dir, { recursive: true, force: true });
  await upstream?.close();
});

describe('an upstream that echoes its credential on every error path', () => {
  it('reaches the upstream with every probe (144: 4 providers × 6 error paths × 3 endpoints × stream or not)', () => {
    expect(results).toHaveLength(144);
    for (const r of results) expect(upstream.hits.get(r.probe.model) ?? 0, `${r.probe.provider}/${r.probe.model}`).toBeGreaterThan(0);
    // The upstream really did put the key in its messages: the hub took it out.
    const redacted = results.filter((r) => r.text.includes('[REDACTED]'));
    expect(redacted.length).toBeGreaterThan(100);
  });

  it('gives the key to no client: no response body and no stream byte', () => {
    const found = results.flatMap((r) => keyLeaks(`${r.probe.endpoint} ${r.probe.provider}/${r.probe.model} (HTTP ${r.status})`, r.text));
    expect(found).toEqual([]);
  });

  it('answers a mid-stream error in-band, in the client format, without the key', () => {
    const streamed = results.filter((r) => r.probe.scenario === 'midstream' && r.probe.stream);
    expect(streamed).toHaveLength(12);
    for (const r of streamed) {
      expect(r.status).toBe(200);
      expect(r.text, `${r.probe.endpoint} ${r.probe.provider}`).toMatch(/error/);
      expect(r.text).toContain('[REDACTED]');
    }
  });

  it('names the provider whose credential was refused, as a 502, never as the client key\'s 401', () => {
    const refused = results.filter((r) => r.probe.scenario === 'e401' && !r.probe.stream);
    expect(refused).toHaveLength(12);
    for (const r of refused) {
      expect(r.status, `${r.probe.endpoint} ${r.probe.provider}`).toBe(502);
      expect(r.text).toContain(`The upstream provider '${r.probe.provider}' rejected the hub's credential for it (HTTP 401)`);
      // OpenAI's error shape carries a code; Anthropic's has only a type.
      if (r.probe.endpoint !== 'messages') expect(JSON.parse(r.text).error.code).toBe('upstream_authentication_failed');
    }
  });

  it('stores no key: the request log, every captured body, for the admin and the key holder', async () => {
    const ids = results.map((r) => r.requestId);
    expect(ids.every(Boolean)).toBe(true);
    await expect.poll(async () => (await Promise.all(ids.map((id) => hub.store.usage.bodies(id)))).every((b) => b !== undefined), { timeout: 5000 }).toBe(true);
    const list = await fetch(`${hub.url}/admin/requests?limit=500`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(list.status).toBe(200);
    const found = keyLeaks('/admin/requests', await list.text());
    for (const id of ids) {
      const admin = await fetch(`${hub.url}/admin/requests/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const mine = await fetch(`${hub.url}/v1/me/requests/${id}`, { headers: { authorization: `Bearer ${userKey.key}` } });
      expect(admin.status).toBe(200);
      expect(mine.status).toBe(200);
      const adminText = await admin.text();
      const detail = JSON.parse(adminText) as { bodies: { request: string; response: string } | null };
      expect(detail.bodies, id).not.toBeNull();
      found.push(...keyLeaks(`/admin/requests/${id}`, adminText), ...keyLeaks(`/v1/me/requests/${id}`, await mine.text()));
    }
    expect(found).toEqual([]);
  });

  it('logs no key', () => {
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('"msg":"request"');
    expectNoKey('the log', logs);
  });

  it('leaves no key in the data files once the hub is closed', async () => {
    await hub.close();
    closed = true;
    const dataDir = join(hub.dir, 'data');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dataDir);
    expect(files.length).toBeGreaterThan(0);
    expect(files.flatMap((f) => keyLeaks(f, readFileSync(f).toString('latin1')))).toEqual([]);
  });
});

describe('the same probes through a replica on the shared store (PostgreSQL + Redis)', () => {
  let db: TestDatabase;
  let replica: TestHub<PostgresStores>;
  let stored: string[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    replica = await startSharedTestHub(echoingConfig(), { databaseUrl: db.url, redisUrl: process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379' }, echoingEnv);
    const { key } = await createKey(replica.url, ADMIN, { name: 'holder', budget_usd: 10, rpm: 1000 });
    // One probe per provider, error path and endpoint, streamed and not alternately.
    const some = probes.filter((_, i) => i % 2 === 0);
    const done = await Promise.all(some.map((p) => call(p, replica, key)));
    stored = done.map((d) => d.requestId);
    expect(done.every((d) => d.requestId)).toBe(true);
    for (const d of done) expectNoKey('a response', d.text);
  }, 120_000);
  afterAll(async () => {
    await replica?.dispose();
    await db?.drop();
  });

  it('leaves no key in any PostgreSQL table, nor in the replica\'s journal', async () => {
    const pool = replica.store.pool;
    // Every record and captured body has landed.
    await expect
      .poll(async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM request_bodies WHERE request_id = ANY($1)', [stored])).rows[0]!.n), { timeout: 10_000 })
      .toBe(stored.length);
    const tables = (await pool.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(['usage', 'request_bodies', 'request_traces', 'responses', 'settings', 'keys']));
    const found: string[] = [];
    for (const t of tables) {
      const rows = (await pool.query<{ row: string }>(`SELECT t::text AS row FROM "${t}" t`)).rows;
      found.push(...keyLeaks(`table ${t}`, rows.map((r) => r.row).join('\n')));
    }
    await replica.close();
    const dataDir = join(replica.dir, 'data');
    for (const name of readdirSync(dataDir)) {
      const f = join(dataDir, name);
      if (statSync(f).isFile()) found.push(...keyLeaks(f, readFileSync(f).toString('latin1')));
    }
    expect(found).toEqual([]);
  });
});

describe('the official SDKs, when the upstream refuses the hub credential', () => {
  let refusing: TestHub;
  let echoing: Awaited<ReturnType<typeof startEchoUpstream>>;
  beforeAll(async () => {
    echoing = await startEchoUpstream();
    refusing = await startTestHub(
      `providers:
  glm: { baseURL: ${echoing.url}/openai/v1, apiKey: "\${GLM_KEY}" }
  ant: { type: anthropic, baseURL: ${echoing.url}/anthropic, apiKey: "\${ANT_KEY}" }
`,
      { GLM_KEY: KEYS.glm, ANT_KEY: KEYS.ant },
    );
  });
  afterAll(async () => {
    await refusing?.dispose();
    await echoing?.close();
  });

  it('openai: an InternalServerError (502) whose message names the provider, not an AuthenticationError', async () => {
    const client = new OpenAI({ baseURL: `${refusing.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'glm/e401-sdk', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).not.toBeInstanceOf(OpenAI.AuthenticationError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(502);
    expect(e.code).toBe('upstream_authentication_failed');
    expect(e.message).toContain("The upstream provider 'glm' rejected the hub's credential for it (HTTP 401): check the API key configured for 'glm'");
    expect(leaks(e.message, KEYS.glm)).toBeUndefined();
  });

  it('anthropic: the same on /v1/messages, relayed from an Anthropic upstream', async () => {
    const client = new Anthropic({ baseURL: refusing.url, apiKey: 'client-key', maxRetries: 0 });
    const err = await client.messages.create({ model: 'ant/e401-sdk', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err).not.toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as Error).message).toContain("The upstream provider 'ant' rejected the hub's credential");
    expect(leaks((err as Error).message, KEYS.ant)).toBeUndefined();
  });
});
