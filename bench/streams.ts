/**
 * Stream fidelity at concurrency 1: does the relay forward each chunk as it arrives, without
 * buffering and without a fixed delay before the first one? For each request it records the
 * time to the body's first data event (TTFT) and, for every pair of consecutive content
 * chunks, the gap as received. The upstream stamps each chunk with its send time, so a gap
 * is compared both with the nominal gap (e.g. 10 ms) and with the gap actually sent — the
 * second isolates what the relay itself added.
 */
import { Agent, request } from 'undici';

export interface StreamSample {
  ok: boolean;
  ttftMs: number;
  chunks: number;
  /** Largest |received gap − nominal gap| over this stream, ms. */
  maxDevNominalMs: number;
  /** Largest |received gap − sent gap| over this stream, ms. */
  maxDevSentMs: number;
  /** |received gap − sent gap| for every consecutive pair of content chunks, ms. */
  devSentMs: number[];
  error?: string;
}

export interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
  agent: Agent;
}

export function streamTarget(url: string, key: string, model: string): StreamTarget {
  return {
    url: `${url}/v1/chat/completions`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello.' }] }),
    agent: new Agent({ keepAliveTimeout: 60_000, connections: 4 }),
  };
}

/** Sends one streaming request and times its chunks. */
export async function oneStream(t: StreamTarget, expectedChunks: number, nominalGapMs: number): Promise<StreamSample> {
  const t0 = performance.now();
  try {
    const res = await request(t.url, { method: 'POST', headers: t.headers, body: t.body, dispatcher: t.agent });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      return { ok: false, ttftMs: NaN, chunks: 0, maxDevNominalMs: NaN, maxDevSentMs: NaN, devSentMs: [], error: `${res.statusCode} ${text.slice(0, 200)}` };
    }
    let ttft = NaN;
    let buf = '';
    const got: { sent: number; recv: number }[] = [];
    for await (const data of res.body) {
      const now = performance.now();
      if (Number.isNaN(ttft)) ttft = now - t0;
      buf += (data as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('data:') || line.includes('[DONE]')) continue;
        const ev = JSON.parse(line.slice(5)) as { choices?: { delta?: { content?: string } }[] };
        const content = ev.choices?.[0]?.delta?.content ?? '';
        for (const m of content.matchAll(/(\d+)@([\d.]+) /g)) got.push({ sent: Number(m[2]), recv: performance.timeOrigin + now });
      }
    }
    let devNominal = 0;
    const devSentMs: number[] = [];
    for (let i = 1; i < got.length; i++) {
      const recvGap = got[i]!.recv - got[i - 1]!.recv;
      devNominal = Math.max(devNominal, Math.abs(recvGap - nominalGapMs));
      devSentMs.push(Math.round(Math.abs(recvGap - (got[i]!.sent - got[i - 1]!.sent)) * 1000) / 1000);
    }
    const ok = got.length === expectedChunks;
    return { ok, ttftMs: ttft, chunks: got.length, maxDevNominalMs: devNominal, maxDevSentMs: Math.max(0, ...devSentMs), devSentMs, ...(!ok && { error: `got ${got.length} of ${expectedChunks} chunks` }) };
  } catch (err) {
    return { ok: false, ttftMs: NaN, chunks: 0, maxDevNominalMs: NaN, maxDevSentMs: NaN, devSentMs: [], error: (err as Error).message };
  }
}
