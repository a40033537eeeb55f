/**
 * OpenAI's Files API on the hub, driven by the official `openai` SDK as an app would: upload,
 * list, retrieve, content and delete, each key seeing only its own files; and the requests a
 * hostile or careless client sends. Once on the embedded store, once on PostgreSQL.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import type { PostgresStores } from '../src/store/postgres/index.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
/** Small, so the over-the-limit case sends little. */
const MAX_BODY = 256 * 1024;
const YAML = `server:\n  maxBodyBytes: ${MAX_BODY}\n`;
const ENV = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN };

/** Bytes with NULs and every byte value, which a text round trip would mangle. */
const BINARY = new Uint8Array(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256));

function suite(name: string, start: () => Promise<TestHub<any>>, stop: () => Promise<void> = async () => undefined) {
  describe(name, () => {
    let hub: TestHub<any>;
    let keyA: string;
    let keyB: string;
    const client = (key: string) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key, maxRetries: 0 });

    const newKey = async () => (await createKey(hub.url, ADMIN, { name: 'files' })).key;

    /** A raw upload, for bodies the SDK would never send. */
    async function post(key: string, body: string | FormData, headers: Record<string, string> = {}) {
      const res = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body });
      return { status: res.status, body: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } } };
    }

    beforeAll(async () => {
      hub = await start();
      keyA = await newKey();
      keyB = await newKey();
    });

    afterAll(async () => {
      await hub?.dispose();
      await stop();
    });

    it('uploads a text file and a binary one with a Chinese name, and gives back their bytes exactly', async () => {
      const a = client(keyA);
      const text = await a.files.create({ file: await toFile(Buffer.from('hello, 知识库\n'), 'notes.txt'), purpose: 'assistants' });
      expect(text).toMatchObject({ object: 'file', filename: 'notes.txt', purpose: 'assistants', bytes: Buffer.byteLength('hello, 知识库\n') });
      expect(text.id).toMatch(/^file-/);
      expect(Math.abs(text.created_at - Date.now() / 1000)).toBeLessThan(60);

      const bin = await a.files.create({ file: await toFile(BINARY, '长江报告.bin'), purpose: 'user_data' });
      expect(bin).toMatchObject({ filename: '长江报告.bin', bytes: BINARY.length, purpose: 'user_data' });

      expect(await (await a.files.content(text.id)).text()).toBe('hello, 知识库\n');
      const back = await a.files.content(bin.id);
      expect(back.headers.get('content-type')).toBe('application/octet-stream');
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(BINARY);

      expect(await a.files.retrieve(bin.id)).toEqual(bin);
    });

    it('lists a page at a time with limit and after, newest first or oldest first, and by purpose', async () => {
      const k = await newKey();
      const c = client(k);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await c.files.create({ file: await toFile(Buffer.from(`file ${i}`), `f${i}.txt`), purpose: i % 2 === 0 ? 'batch' : 'vision' })).id);

      const first = await c.files.list({ limit: 2 });
      expect(first.data.map((f) => f.id)).toEqual([ids[4], ids[3]]);
      expect(first.has_more).toBe(true);
      const second = await c.files.list({ limit: 2, after: ids[3]! });
      expect(second.data.map((f) => f.id)).toEqual([ids[2], ids[1]]);

      // The SDK's auto-pagination walks every page through `after`.
      const all: string[] = [];
      for await (const f of c.files.list({ limit: 2, order: 'asc' })) all.push(f.id);
      expect(all).toEqual(ids);

      const batch = await c.files.list({ purpose: 'batch' });
      expect(batch.data.map((f) => f.id)).toEqual([ids[4], ids[2], ids[0]]);
      expect(batch.has_more).toBe(false);

      const res = await fetch(`${hub.url}/v1/files?limit=2&order=asc`, { headers: { authorization: `Bearer ${k}` } });
      expect(await res.json()).toMatchObject({ object: 'list', first_id: ids[0], last_id: ids[1], has_more: true });
    });

    it('clamps a limit above 10,000 and refuses one below 1', async () => {
      const k = await newKey();
      const c = client(k);
      for (let i = 0; i < 3; i++) await c.files.create({ file: await toFile(Buffer.from('x'), `x${i}.txt`), purpose: 'assistants' });
      const res = await fetch(`${hub.url}/v1/files?limit=50000`, { headers: { authorization: `Bearer ${k}` } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: unknown[] }).data).toHaveLength(3);
      const zero = await fetch(`${hub.url}/v1/files?limit=0`, { headers: { authorization: `Bearer ${k}` } });
      expect(zero.status).toBe(400);
      expect(((await zero.json()) as { error: { param: string } }).error.param).toBe('limit');
    });

    it('deletes a file, after which it is gone (404 in OpenAI\'s words)', async () => {
      const a = client(keyA);
      const f = await a.files.create({ file: await toFile(Buffer.from('bye'), 'bye.txt'), purpose: 'assistants' });
      expect(await a.files.delete(f.id)).toEqual({ id: f.id, object: 'file', deleted: true });
      const err = await a.files.retrieve(f.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({ message: `No such File object: ${f.id}`, type: 'invalid_request_error', param: 'id', code: null });
      await expect(a.files.content(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(a.files.delete(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    });

    it('sets an expiry from expires_after, within OpenAI\'s bounds', async () => {
      const a = client(keyA);
      const f = await a.files.create({ file: await toFile(Buffer.from('x'), 'e.txt'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 7200 } });
      expect(f.expires_at).toBe(f.created_at + 7200);
      expect((await a.files.retrieve(f.id)).expires_at).toBe(f.created_at + 7200);
      const short = await a.files.create({ file: await toFile(Buffer.from('x'), 'e.txt'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 60 } }).catch((e: unknown) => e);
      expect(short).toBeInstanceOf(OpenAI.BadRequestError);
      expect((short as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'expires_after.seconds' });
    });

    it('keeps keys apart: another key can neither see, read nor delete a file; the admin sees all', async () => {
      const f = await client(keyA).files.create({ file: await toFile(Buffer.from('private'), 'a.txt'), purpose: 'assistants' });
      const b = client(keyB);
      await expect(b.files.retrieve(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.files.content(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.files.delete(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      expect((await b.files.list()).data.map((x) => x.id)).not.toContain(f.id);
      // `after` naming another key's file reveals nothing either.
      expect((await b.files.list({ after: f.id })).data).toEqual([]);
      expect(await client(keyA).files.retrieve(f.id)).toMatchObject({ id: f.id });
      expect((await client(ADMIN).files.list()).data.map((x) => x.id)).toContain(f.id);
      await expect(new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 }).files.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    });

    it('refuses an unknown purpose, a missing file or purpose, and a body that is not multipart', async () => {
      const a = client(keyA);
      const err = await a.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'fine-tune-results' as 'batch' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param: 'purpose' });

      const noFile = new FormData();
      noFile.set('purpose', 'assistants');
      expect(await post(keyA, noFile)).toMatchObject({ status: 400, body: { error: { param: 'file', message: "Missing required parameter: 'file'." } } });

      const plainField = new FormData();
      plainField.set('purpose', 'assistants');
      plainField.set('file', 'not a file');
      expect(await post(keyA, plainField)).toMatchObject({ status: 400, body: { error: { param: 'file' } } });

      const noPurpose = new FormData();
      noPurpose.set('file', new Blob(['x']), 'x.txt');
      expect(await post(keyA, noPurpose)).toMatchObject({ status: 400, body: { error: { param: 'purpose' } } });

      const garbage = await post(keyA, 'this is not multipart at all', { 'content-type': 'multipart/form-data; boundary=zzz' });
      expect(garbage.status).toBe(400);
      expect(garbage.body.error.type).toBe('invalid_request_error');
      expect((await post(keyA, 'x', { 'content-type': 'multipart/form-data' })).status).toBe(400);

      expect((await post(keyA, JSON.stringify({ purpose: 'assistants' }), { 'content-type': 'application/json' })).status).toBe(415);
    });

    it('refuses a body over the hub\'s size limit with 413, and stores nothing', async () => {
      const k = await newKey();
      const big = await client(k).files.create({ file: await toFile(new Uint8Array(MAX_BODY + 1), 'big.bin'), purpose: 'assistants' }).catch((e: unknown) => e);
      expect(big).toBeInstanceOf(OpenAI.APIError);
      expect((big as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
      expect((big as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: 'invalid_request_error' });

      // Without a Content-Length to refuse it by: counted as it streams in.
      const chunk = new Uint8Array(64 * 1024);
      let sent = 0;
      const boundary = 'b0undary';
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent === 0) c.enqueue(new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n`));
          if (sent > MAX_BODY * 2) return c.close();
          sent += chunk.length;
          c.enqueue(chunk);
        },
      });
      const res = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: stream, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect((await client(k).files.list()).data).toEqual([]);
    });

    it('keeps only the last segment of a filename with paths, without control characters; refuses one with nothing left', async () => {
      const a = client(keyA);
      const f = await a.files.create({ file: await toFile(Buffer.from('x'), '../../etc/pass\u0000wd\r\n.txt'), purpose: 'assistants' });
      expect(f.filename).toBe('passwd.txt');
      const w = await a.files.create({ file: await toFile(Buffer.from('x'), 'C:\\Users\\me\\报告.md'), purpose: 'assistants' });
      expect(w.filename).toBe('报告.md');
      const content = await a.files.content(w.id);
      expect(content.headers.get('content-disposition')).toBe(`attachment; filename="__.md"; filename*=UTF-8''${encodeURIComponent('报告.md')}`);
      // The SDK itself would send a name of nothing but a path as "undefined": sent by hand.
      const body = `--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="../\u0001/"\r\n\r\nx\r\n--b--\r\n`;
      expect(await post(keyA, body, { 'content-type': 'multipart/form-data; boundary=b' })).toMatchObject({ status: 400, body: { error: { param: 'file' } } });
    });
  });
}

suite('Files API on the embedded store', () => startTestHub(YAML, ENV));

let db: TestDatabase | undefined;
suite(
  'Files API on PostgreSQL',
  async () => {
    db = await createTestDatabase();
    return startSharedTestHub(YAML, { databaseUrl: db.url }, ENV) as Promise<TestHub<PostgresStores>>;
  },
  async () => db?.drop(),
);

describe('Files API on a hub without keys', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(YAML);
  });
  afterAll(async () => {
    await hub?.dispose();
  });

  it('is open to any caller, as the model API is', async () => {
    const c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'anything', maxRetries: 0 });
    const f = await c.files.create({ file: await toFile(Buffer.from('open'), 'o.txt'), purpose: 'user_data' });
    const other = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'something-else', maxRetries: 0 });
    expect((await other.files.list()).data.map((x) => x.id)).toEqual([f.id]);
    expect(await (await other.files.content(f.id)).text()).toBe('open');
  });

  it('refuses an upload a web page on another origin makes a browser send', async () => {
    const form = new FormData();
    form.set('purpose', 'assistants');
    form.set('file', new Blob(['planted']), 'x.txt');
    const res = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { origin: 'https://evil.example' }, body: form });
    expect(res.status).toBe(403);
    const same = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { origin: hub.url }, body: form });
    expect(same.status).toBe(200);
    const list = (await (await fetch(`${hub.url}/v1/files`)).json()) as { data: { filename: string }[] };
    expect(list.data.filter((f) => f.filename === 'x.txt')).toHaveLength(1);
  });
});
