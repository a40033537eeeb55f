import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

/**
 * The hub's HTTP edge: hostile paths, the last line of defence, headers real clients get wrong,
 * JSON-only bodies and who may scrape /metrics.
 */
const ADMIN = 'sk-edge-admin-key-0123456789';
const YAML = 'providers:\n  loop:\n    baseURL: ${LOOP_URL}\n    models: [gpt-test]\n    embeddingModels: [embed-test]\n';
let upstream: OpenAIUpstream;
let hub: TestHub; // keys required
let open: TestHub; // auth none
const logs: string[] = [];

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  hub = await startTestHub(YAML, { LOOP_URL: upstream.baseURL, BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN }, sink as never);
  open = await startTestHub(YAML, { LOOP_URL: upstream.baseURL, BAIMO_AUTH: 'none' });
});

afterAll(async () => {
  await hub?.dispose();
  await open?.dispose();
  await upstream?.close();
});

const admin = { authorization: `Bearer ${ADMIN}` };
const hi = { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };

async function get(h: TestHub, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.url}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as any };
}

describe('malformed percent-encoding in a path', () => {
  it('is a 400 in OpenAI shape wherever it appears, key or no key, and the hub keeps serving', async () => {
    for (const [path, headers] of [
      ['/v1/responses/%ZZ', {}],
      ['/v1/responses/%E4%B8', admin],
      ['/admin/requests/%ZZ', admin],
      ['/v1/me/requests/%ZZ', admin],
      ['/v1/models/%ZZ', admin],
      ['/nowhere/%zz', {}],
    ] as const) {
      const r = await get(hub, path, headers);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_url' });
      expect(r.body.error.message).toContain('percent-encoding');
    }
    expect((await get(hub, '/healthz')).status).toBe(200);
  });

  it('leaves well-formed encoding alone', async () => {
    const r = await get(hub, '/v1/models/loop%2Fgpt-test', admin);
    expect(r.status).toBe(200);
    expect(r.body.id).toBe('loop/gpt-test');
  });
});

describe('an error of the hub\'s own making', () => {
  it('thrown synchronously from routing: logged, a 500 that is not blamed on an upstream, and the hub keeps serving', async () => {
    // What routing calls to authenticate a model-API request.
    const authenticate = hub.tenancy.authenticateShared;
    hub.tenancy.authenticateShared = () => {
      throw new TypeError('boom in authenticate');
    };
    try {
      const r = await get(hub, '/v1/models', admin);
      expect(r.status).toBe(500);
      expect(r.body.error).toMatchObject({ type: 'server_error', code: 'internal_error' });
      expect(r.body.error.message).not.toContain('boom');
    } finally {
      hub.tenancy.authenticateShared = authenticate;
    }
    expect((await get(hub, '/v1/models', admin)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100)); // pino flushes at least once a second
    expect(logs.join('')).toContain('boom in authenticate');
  });

  it('thrown inside an async handler: the same', async () => {
    const records = hub.store.usage.requestRecords;
    hub.store.usage.requestRecords = () => {
      throw new RangeError('boom in the store');
    };
    try {
      const r = await get(hub, '/v1/me/requests/req_x', admin);
      expect(r.status).toBe(500);
      expect(r.body.error.type).toBe('server_error');
      expect(r.body.error.type).not.toBe('upstream_error');
    } finally {
      hub.store.usage.requestRecords = records;
    }
    expect((await get(hub, '/v1/me/requests/req_x', admin)).status).toBe(404);
  });
});

describe('a base URL with /v1 twice', () => {
  it('the Anthropic SDK gets a 404 in its own format that says to drop /v1 from the base URL', async () => {
    const client = new Anthropic({ baseURL: `${open.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const err = await client.messages.create({ model: 'loop/gpt-test', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as { error: unknown }).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect((err as Error).message).toContain('remove /v1 from the end of the client\'s base URL');
    expect((err as Error).message).toContain('without /v1');
  });

  it('an OpenAI client gets the same hint in OpenAI shape', async () => {
    const client = new OpenAI({ baseURL: `${open.url}/v1/v1`, apiKey: 'x', maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('unknown_url');
    expect((err as Error).message).toContain('/v1 twice');
  });
});

describe('a key sent without `Bearer `', () => {
  it('gets a 401 that says how to send it, in the client\'s format, without repeating the key', async () => {
    const key = 'sk-baimo-NotBearerAtAll0123456789';
    const chat = await fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: key, 'content-type': 'application/json' }, body: JSON.stringify(hi) });
    expect(chat.status).toBe(401);
    const body = (await chat.json()) as any;
    expect(body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_authorization_header' });
    expect(body.error.message).toContain('Authorization: Bearer <key>');
    expect(body.error.message).toContain('x-api-key');
    expect(JSON.stringify(body)).not.toContain(key);

    const messages = await fetch(`${hub.url}/v1/messages`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'content-type': 'application/json' }, body: '{}' });
    expect(messages.status).toBe(401);
    const m = (await messages.json()) as any;
    expect(m).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(m.error.message).toContain('Basic scheme');

    const models = await get(hub, '/v1/models', { authorization: 'Bearer' });
    expect(models.status).toBe(401);
    expect(models.body.error.message).toContain('no key after Bearer');

    const adm = await get(hub, '/admin/keys', { authorization: ADMIN });
    expect(adm.status).toBe(401);
    expect(adm.body.error.message).toContain('Authorization: Bearer <key>');
    expect(JSON.stringify(adm.body)).not.toContain(ADMIN);
  });

  it('still works with Bearer, any case, and with x-api-key', async () => {
    expect((await get(hub, '/v1/models', { authorization: `bearer ${ADMIN}` })).status).toBe(200);
    expect((await get(hub, '/v1/models', { 'x-api-key': ADMIN })).status).toBe(200);
  });
});

describe('JSON endpoints need a JSON content type', () => {
  const bodies: [string, Record<string, string>, RequestInit['body']][] = [
    ['text/plain', { 'content-type': 'text/plain;charset=UTF-8' }, JSON.stringify(hi)],
    ['form', { 'content-type': 'application/x-www-form-urlencoded' }, JSON.stringify(hi)],
    ['multipart', {}, (() => { const f = new FormData(); f.set('x', JSON.stringify(hi)); return f; })()],
    ['none', {}, new Blob([JSON.stringify(hi)])],
  ];

  it('text/plain, form, multipart and no type get 415 in the client\'s format, and no upstream is called (auth off: a web page cannot spend through the hub)', async () => {
    const before = upstream.requests.length;
    for (const [name, headers, body] of bodies) {
      for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/messages', '/v1/messages/count_tokens']) {
        const res = await fetch(`${open.url}${path}`, { method: 'POST', headers, body });
        const b = (await res.json()) as any;
        expect({ name, path, status: res.status }).toEqual({ name, path, status: 415 });
        if (path.startsWith('/v1/messages')) expect(b).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
        else expect(b.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type' });
        expect(JSON.stringify(b)).toContain('Content-Type: application/json');
      }
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('admin and self-service writes need it too', async () => {
    for (const [path, body] of [['/admin/keys', { name: 'x' }], ['/admin/teams', { name: 't' }], ['/v1/arena/votes', { models: ['a', 'b'], winner: 'a' }]] as const) {
      const res = await fetch(`${hub.url}${path}`, { method: 'POST', headers: { ...admin, 'content-type': 'application/x-www-form-urlencoded' }, body: JSON.stringify(body) });
      expect({ path, status: res.status }).toEqual({ path, status: 415 });
    }
    expect((await get(hub, '/admin/keys', admin)).body.data.some((k: { name: string }) => k.name === 'x')).toBe(false);
    // A write with no body (revoke) needs no type.
    const made = await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json; charset=utf-8' }, body: '{"name":"y"}' });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    expect((await fetch(`${hub.url}/admin/keys/${id}/revoke`, { method: 'POST', headers: admin })).status).toBe(200);
  });

  it('application/json with a charset, a +json type and the official SDKs are accepted', async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json']) {
      const res = await fetch(`${open.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(hi) });
      expect({ type, status: res.status }).toEqual({ type, status: 200 });
    }
    const oa = await new OpenAI({ baseURL: `${open.url}/v1`, apiKey: 'x', maxRetries: 0 }).chat.completions.create({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    expect(oa.choices[0]!.message.content).toBeTruthy();
    const an = await new Anthropic({ baseURL: open.url, apiKey: 'x', maxRetries: 0 }).messages.create({ model: 'loop/gpt-test', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(an.content.length).toBeGreaterThan(0);
    const emb = await new OpenAI({ baseURL: `${open.url}/v1`, apiKey: 'x', maxRetries: 0 }).embeddings.create({ model: 'loop/embed-test', input: 'hi' });
    expect(emb.data.length).toBe(1);
  });
});

describe('who may scrape /metrics', () => {
  it('a hub that requires keys requires the admin key on /metrics by default', async () => {
    expect((await fetch(`${hub.url}/metrics`)).status).toBe(401);
    const key = await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{"name":"scraper"}' });
    const virtual = ((await key.json()) as { key: string }).key;
    expect((await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${virtual}` } })).status).toBe(403);
    const ok = await fetch(`${hub.url}/metrics`, { headers: admin });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('baimo_requests_total');
  });

  it('an open hub serves /metrics to anyone by default', async () => {
    const res = await fetch(`${open.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
  });

  it('BAIMO_METRICS_AUTH overrides the default either way', async () => {
    const a = await startTestHub(YAML, { LOOP_URL: upstream.baseURL, BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, BAIMO_METRICS_AUTH: 'none' });
    const b = await startTestHub(`server:\n  metricsAuth: required\n${YAML}`, { LOOP_URL: upstream.baseURL, BAIMO_AUTH: 'none', BAIMO_ADMIN_KEY: ADMIN });
    try {
      expect((await fetch(`${a.url}/metrics`)).status).toBe(200);
      expect((await fetch(`${b.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${b.url}/metrics`, { headers: admin })).status).toBe(200);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});
