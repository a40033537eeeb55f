/**
 * Requests Node refuses before any route runs still get an answer with a readable error body,
 * and the hub goes on serving.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startTestHub('providers: {}\n', { BAIMO_HEADERS_TIMEOUT_MS: '1000', BAIMO_REQUEST_TIMEOUT_MS: '2000' });
});
afterAll(async () => {
  await hub?.dispose();
});

/** Sends raw bytes and reads until the hub closes the connection. */
function raw(bytes: string, keepOpen = false): Promise<string> {
  const { port } = new URL(hub.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', (e) => (text ? resolve(text) : reject(e)));
    if (!keepOpen) socket.on('end', () => socket.end());
  });
}

function parse(answer: string): { status: number; body: any } {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)?.[1]), body: JSON.parse(body!) };
}

describe('requests refused before any route runs', () => {
  it('headers over 16 KB: a 431 with an error body', async () => {
    const a = parse(await raw(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(a.status).toBe(431);
    expect(a.body.error).toMatchObject({ code: 'invalid_http_request' });
    expect(a.body.error.message).toMatch(/16 KB/);
  });

  it('a malformed request line: a 400 with an error body', async () => {
    const a = parse(await raw('GET /v1/models HTTP/9\r\n\r\n'));
    expect(a.status).toBe(400);
    expect(a.body.error.message).toMatch(/Malformed HTTP request/);
  });

  it('headers not sent in time: a 408 with an error body', async () => {
    const a = parse(await raw('GET /v1/models HTTP/1.1\r\nHost: x\r\n', true));
    expect(a.status).toBe(408);
    expect(a.body.error.type).toBeTruthy();
  });

  it('and the hub goes on serving', async () => {
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
  });
});
