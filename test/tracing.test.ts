import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let collector: Server;
const received: { contentType: string | undefined; body: string }[] = [];

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ apiKey: 'sk-upstream-secret-for-tracing-1234' });
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') received.push({ contentType: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  await upstream?.close();
  collector?.close();
});

describe('OpenTelemetry traces', () => {
  it('export one span per request over OTLP/HTTP with GenAI attributes and no secrets', async () => {
    const port = (collector.address() as { port: number }).port;
    const hub = await startTestHub(
      `providers:\n  loop: { baseURL: ${upstream.baseURL}, apiKey: "\${K}" }\ntracing: { otlpEndpoint: "http://127.0.0.1:${port}", serviceName: baimo-test }\n`,
      { K: 'sk-upstream-secret-for-tracing-1234' },
    );
    const res = await fetch(`${hub.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'secret prompt text' }] }),
    });
    const id = res.headers.get('x-request-id');
    await res.text();
    await hub.dispose(); // flushes the exporter
    expect(received.length).toBeGreaterThan(0);
    const all = received.map((r) => r.body).join('\n');
    expect(received[0]!.contentType).toContain('json');
    const spans = received.flatMap((r) => JSON.parse(r.body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((s: any) => s.spans)));
    const span = spans.find((s: any) => s.attributes.some((a: any) => a.key === 'baimo.request_id' && a.value.stringValue === id));
    expect(span.name).toBe('chat loop/gpt-test');
    const attr = Object.fromEntries(span.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
    expect(attr).toMatchObject({ 'gen_ai.request.model': 'loop/gpt-test', 'gen_ai.system': 'loop', 'gen_ai.response.model': 'gpt-test', 'http.response.status_code': 200 });
    expect(Number(attr['gen_ai.usage.input_tokens'])).toBe(12);
    expect(all).toContain('baimo-test');
    expect(all).not.toContain('sk-upstream-secret-for-tracing-1234');
    expect(all).not.toContain('secret prompt text');
  });
});
