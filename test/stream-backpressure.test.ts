import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cancel } from '../src/core/cancel.js';
import { OpenAICompatibleProvider } from '../src/providers/openai-compatible/provider.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';

/**
 * A client that stops reading must slow the upstream down, not make the hub buffer the stream:
 * the relays pause the upstream while the client's socket is full. The upstream here streams
 * 40 MB of chat chunks as fast as the hub takes them and counts what it managed to write.
 */
const CHUNKS = 20_000;
const PAD = 'x'.repeat(2000);
let written = 0;
let upstream: Server;
let upstreamPort = 0;
let hub: TestHub;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const pump = () => {
        while (i < CHUNKS) {
          const chunk = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: `${i} ${PAD}` }, finish_reason: null }] })}\n\n`;
          i++;
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 1, completion_tokens: CHUNKS, total_tokens: CHUNKS + 1 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      };
      pump();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstreamPort = (upstream.address() as AddressInfo).port);
  hub = await startTestHub(`providers:\n  up:\n    type: openai\n    baseURL: http://127.0.0.1:${port}/v1\n    apiKey: sk-test\n    models: [m]\n`);
});

afterAll(async () => {
  await hub?.dispose();
  await new Promise((r) => upstream?.close(r));
});

describe('a slow streaming client', () => {
  it('holds the upstream back instead of being buffered for, and then gets every chunk in order', async () => {
    const { port } = new URL(hub.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const body = JSON.stringify({ model: 'up/m', stream: true, messages: [{ role: 'user', content: 'go' }] });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    socket.pause();
    // Not reading: the upstream stalls once the sockets' and the hub's buffers are full.
    await new Promise((r) => setTimeout(r, 1500));
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 500));
    expect(written).toBe(stalledAt);
    expect(written).toBeLessThan(CHUNKS * PAD.length * 0.5);

    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.resume();
    await new Promise((r) => socket.once('end', r));
    const indexes = [...text.matchAll(/"content":"(\d+) x/g)].map((m) => Number(m[1]));
    expect(indexes.length).toBe(CHUNKS);
    expect(indexes.every((n, i) => n === i)).toBe(true);
    expect(text).toContain('data: [DONE]');
    // The client asked to close: the hub does so once the stream is over.
    expect(socket.destroyed || socket.readableEnded).toBe(true);
  }, 60_000);
});

describe('a relayed stream not yet handed to a client', () => {
  it('holds the upstream back after a little, then passes everything on once piped', async () => {
    written = 0;
    const provider = new OpenAICompatibleProvider({ id: 'up', baseURL: `http://127.0.0.1:${upstreamPort}/v1`, timeouts: { firstByteMs: 10_000, idleMs: 10_000 }, maxTokensField: 'max_tokens' });
    let blocks = 0;
    const stream = await provider.relayStream('chat', JSON.stringify({ model: 'm', stream: true, messages: [] }), new Cancel(), (block) => (blocks++, `${block}\n\n`));
    await new Promise((r) => setTimeout(r, 1000));
    const heldAt = written;
    expect(heldAt).toBeLessThan(CHUNKS * PAD.length * 0.5);
    let text = '';
    await stream.pipe({ write: (t: string) => ((text += t), true), once: () => undefined }, { timedOut: () => false, timeoutError: () => new Error('x') as never });
    expect(written).toBeGreaterThan(heldAt);
    const indexes = [...text.matchAll(/"content":"(\d+) x/g)].map((m) => Number(m[1]));
    expect(indexes.length).toBe(CHUNKS);
    expect(indexes.every((n, i) => n === i)).toBe(true);
    expect(blocks).toBe(CHUNKS + 2);
  }, 60_000);
});
