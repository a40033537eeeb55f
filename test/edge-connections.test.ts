import { connect } from 'node:net';
import type { Socket } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

/**
 * Slow clients and too many sockets: a client that dribbles its headers or body is cut off after
 * the configured time (short here: that is behaviour, not speed), a response that takes longer
 * than that is not, and connections beyond the cap are refused while the hub keeps serving.
 */
const YAML = 'providers:\n  loop:\n    baseURL: ${LOOP_URL}\n    models: [gpt-test, slow]\n';
let upstream: OpenAIUpstream;

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ slowFirstByteMs: 2500 });
});

afterAll(async () => {
  await upstream?.close();
});

function port(h: TestHub): number {
  return Number(new URL(h.url).port);
}

/** A raw socket that records what it receives and whether the hub closed it. */
function rawSocket(p: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void>; isClosed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(p, '127.0.0.1');
    let data = '';
    let done = false;
    const closed = new Promise<void>((r) => socket.on('close', () => ((done = true), r())));
    socket.on('data', (d) => (data += d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => data, closed, isClosed: () => done }));
    socket.once('error', reject);
  });
}

/** Writes `text` a few bytes at a time, every `everyMs`, until done or the socket closes. */
async function dribble(s: { socket: Socket; isClosed: () => boolean }, text: string, everyMs: number): Promise<void> {
  for (let i = 0; i < text.length && !s.isClosed(); i += 2) {
    s.socket.write(text.slice(i, i + 2));
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('slow clients', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(YAML, { LOOP_URL: upstream.baseURL, BAIMO_HEADERS_TIMEOUT_MS: '1000', BAIMO_REQUEST_TIMEOUT_MS: '2000' });
  });
  afterAll(async () => {
    await hub?.dispose();
  });

  it('a client that sends its headers slowly is closed by the hub (408)', async () => {
    const s = await rawSocket(port(hub));
    s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    // Far more header than the timeout allows at this pace; it never finishes.
    void dribble(s, `X-Slow: ${'a'.repeat(2000)}\r\n`, 100);
    await s.closed;
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a client that sends its body slowly is closed by the hub (408), and nothing reaches the upstream', async () => {
    const before = upstream.requests.length;
    const body = JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const s = await rawSocket(port(hub));
    s.socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    void dribble(s, body, 100);
    await s.closed;
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(upstream.requests.length).toBe(before);
  });

  it('a response that takes longer than the request timeout is not cut: it covers receiving the request only', async () => {
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
    // The upstream waits 2.5 s before its first byte: longer than both timeouts.
    const stream = await client.chat.completions.create({ model: 'loop/slow', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toContain('Hello from slow');
    const whole = await client.chat.completions.create({ model: 'loop/slow', messages: [{ role: 'user', content: 'hi' }] });
    expect(whole.choices[0]!.message.content).toContain('Hello from slow');
  });

  it('an idle keep-alive connection is not taken for a slow request', async () => {
    const s = await rawSocket(port(hub));
    s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => s.received()).toContain('"ok"');
    // Idle for longer than the header timeout (the keep-alive timeout is 65 s), then a second request.
    await new Promise((r) => setTimeout(r, 1600));
    expect(s.isClosed()).toBe(false);
    s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => s.received().split('HTTP/1.1 200').length - 1).toBe(2);
    s.socket.destroy();
  });
});

describe('the connection cap', () => {
  it('refuses connections beyond maxConnections, keeps serving those it holds, and serves again once they close', async () => {
    const hub = await startTestHub(YAML, { LOOP_URL: upstream.baseURL, BAIMO_MAX_CONNECTIONS: '3' });
    const held: Awaited<ReturnType<typeof rawSocket>>[] = [];
    try {
      // Three keep-alive connections, each known to be accepted: it has been answered.
      for (let i = 0; i < 3; i++) {
        const s = await rawSocket(port(hub));
        s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await expect.poll(() => s.received()).toContain('"ok"');
        held.push(s);
      }
      const extra = await rawSocket(port(hub));
      extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await extra.closed;
      expect(extra.received()).toBe('');
      // The held connections still work.
      held[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await expect.poll(() => held[0]!.received().split('HTTP/1.1 200').length - 1).toBe(2);
      // Once one closes, a new connection is served.
      held.pop()!.socket.destroy();
      await expect
        .poll(async () => {
          const s = await rawSocket(port(hub));
          s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          await s.closed;
          return s.received();
        })
        .toMatch(/^HTTP\/1\.1 200/);
    } finally {
      for (const s of held) s.socket.destroy();
      await hub.dispose();
    }
  });
});
