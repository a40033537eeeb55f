/**
 * Hubs sharing a store: a key made on one hub is accepted by another at once, on every model
 * endpoint, even before the other has heard of it — the request looks its hash up in the shared
 * store once instead of answering 401. Here hub B's feed never delivers a notice, so the lookup
 * is the only way it can know the key.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { createHub } from '../src/server/app.js';
import type { Hub } from '../src/server/app.js';
import { assemble } from '../src/server/assemble.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { Ledger } from '../src/tenancy/ledger.js';
import type { TenancyFeed } from '../src/tenancy/ports.js';
import { Tenancy } from '../src/tenancy/service.js';
import { UsageRecorder } from '../src/usage/record.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-shared-auth-000000000000';
/** A feed whose notices never arrive (a hub that has not heard yet). */
const deaf: TenancyFeed = { publish: async () => undefined, subscribe: () => () => undefined };

let db: TestDatabase;
let storesA: PostgresStores;
let storesB: PostgresStores;
let a: Tenancy;
let b: Tenancy;
let hubB: Hub;
let url: string;
let upstream: OpenAIUpstream;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  db = await createTestDatabase();
  storesA = await openPostgresStores(db.url);
  storesB = await openPostgresStores(db.url);
  a = (await Tenancy.open(storesA.tenancy, ADMIN, true, { feed: deaf })).tenancy;
  b = (await Tenancy.open(storesB.tenancy, ADMIN, true, { feed: deaf })).tenancy;
  const { registry, prices } = await assemble(validateConfig({ providers: { loop: { baseURL: upstream.baseURL, models: ['gpt-test'] } } }, {}), {}, { detectOllama: false });
  hubB = createHub({
    registry,
    recorder: new UsageRecorder({ writeUsageLines: () => undefined }),
    maxBodyBytes: 1 << 20,
    tenancy: b,
    prices,
    ledger: new Ledger(() => 0),
    stores: { usage: storesB.usage, responses: storesB.responses, judgements: storesB.judgements, files: storesB.files },
    logger: pino({ level: 'silent' }),
  });
  url = await hubB.listen(0, '127.0.0.1');
}, 30_000);

afterAll(async () => {
  await hubB?.close();
  a?.close();
  b?.close();
  await storesA?.close();
  await storesB?.close();
  await db?.drop();
  await upstream?.close();
});

const get = (path: string, key: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
const chat = (key: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] }) });

describe('a key made on another hub', () => {
  it('is accepted at once on /v1/models, /v1/models/{id} and /v1/chat/completions; an unknown key is still a 401', async () => {
    const { secret } = await a.createKey({ name: 'made-on-a' });
    const models = await get('/v1/models', secret);
    expect(models.status, await models.clone().text()).toBe(200);
    expect(((await models.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    expect((await get('/v1/models/loop/gpt-test', secret)).status).toBe(200);
    const res = await chat(secret);
    expect(res.status, await res.clone().text()).toBe(200);
    const bogus = `${secret.slice(0, -4)}zzzz`;
    expect((await get('/v1/models', bogus)).status).toBe(401);
    expect((await chat(bogus)).status).toBe(401);
  });

});
