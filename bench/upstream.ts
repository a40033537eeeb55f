/**
 * A fast loopback OpenAI chat-completions upstream, run as its own process (node:http only),
 * so the benchmark measures the relay and not a real model. POST /v1/chat/completions answers
 * a fixed small completion at once; with `stream: true` it streams N content chunks spaced by
 * a gap (then a finish chunk, the usage chunk when `stream_options.include_usage` is set, and
 * `data: [DONE]`). Each chunk's content is `<index>@<send time in ms> ` so a client can tell
 * how the gaps it receives differ from the gaps that were sent.
 *
 *   node --import tsx bench/upstream.ts [--chunks 20] [--gap 10]
 *
 * A model named `s<chunks>x<gapMs>` (e.g. `s60x500`) overrides chunks and gap per request.
 * Prints its port on stdout when listening.
 */
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { serveOnLoopback } from './serve.js';

const { values } = parseArgs({ options: { chunks: { type: 'string' }, gap: { type: 'string' }, port: { type: 'string' } } });
const DEFAULT_CHUNKS = Number(values.chunks ?? 20);
const DEFAULT_GAP = Number(values.gap ?? 10);
const now = () => performance.timeOrigin + performance.now();

const COMPLETION = (model: string) => JSON.stringify({
  id: 'chatcmpl-bench0000000000000000000000',
  object: 'chat.completion',
  created: Math.floor(Date.now() / 1000),
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
  system_fingerprint: 'fp_bench',
});

function chunk(model: string, created: number, delta: object, finish: string | null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-benchstream', object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
}

function stream(res: ServerResponse, model: string, includeUsage: boolean): void {
  const m = /^s(\d+)x(\d+)$/.exec(model);
  const n = m ? Number(m[1]) : DEFAULT_CHUNKS;
  const gap = m ? Number(m[2]) : DEFAULT_GAP;
  const created = Math.floor(Date.now() / 1000);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const start = performance.now();
  let k = 0;
  let timer: NodeJS.Timeout | undefined;
  res.on('close', () => clearTimeout(timer));
  const send = () => {
    while (k < n) {
      res.write(chunk(model, created, k === 0 ? { role: 'assistant', content: `${k}@${now().toFixed(3)} ` } : { content: `${k}@${now().toFixed(3)} ` }, null));
      k++;
      // Scheduled against the start time, so timer lateness does not accumulate.
      const wait = start + k * gap - performance.now();
      if (k < n && gap > 0) { timer = setTimeout(send, Math.max(0, wait)); return; }
    }
    res.write(chunk(model, created, {}, 'stop'));
    if (includeUsage) {
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-benchstream', object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_bench', choices: [], usage: { prompt_tokens: 12, completion_tokens: n, total_tokens: 12 + n } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  };
  send();
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => {
    let body: { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean } };
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8')) as typeof body;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json","type":"invalid_request_error"}}');
      return;
    }
    const model = body.model ?? 'bench-model';
    if (body.stream) return stream(res, model, body.stream_options?.include_usage === true);
    const text = COMPLETION(model);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
});
serveOnLoopback(server, Number(values.port ?? 0));
