import { describe, expect, it } from 'vitest';
import { SSESplitter } from '../src/providers/sse.js';

function split(text: string, cuts: number[]): string[] {
  const s = new SSESplitter('t');
  const out: string[] = [];
  let from = 0;
  for (const c of [...cuts, text.length]) {
    out.push(...s.push(text.slice(from, c)));
    from = c;
  }
  const rest = s.rest();
  if (rest) out.push(rest);
  return out;
}

describe('SSESplitter', () => {
  const stream = 'data: one\r\n\r\n: ping\n\nevent: x\ndata: two\ndata: 2b\r\r\n\n\ndata: three\n\ndata: tail';
  const whole = split(stream, []);

  it('splits LF, CRLF and CR line ends alike', () => {
    expect(whole).toEqual(['data: one', ': ping', 'event: x\ndata: two\ndata: 2b', 'data: three', 'data: tail']);
  });

  it('gives the same events however the text is cut, including between CR and LF and inside a blank line', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 3) expect(split(stream, [a, b])).toEqual(whole);
    }
  });

  it('holds a long event in parts and ends it once its blank line arrives', () => {
    const s = new SSESplitter('t');
    const big = 'x'.repeat(10_000);
    for (let i = 0; i < 100; i++) expect(s.push(i === 0 ? `data: ${big}` : big)).toEqual([]);
    const [event] = s.push('\n\n');
    expect(event).toHaveLength(6 + 100 * 10_000);
  });

  it('refuses an event that grows past its bound with an upstream error, and drops what it held', () => {
    const s = new SSESplitter('evil', 1000);
    s.push('data: ' + 'a'.repeat(900));
    let err: any;
    try {
      s.push('a'.repeat(200));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'upstream', code: 'upstream_event_too_large', provider: 'evil' });
    expect(s.rest()).toBe('');
  });
});

describe('UTF-8 split between network chunks', () => {
  it('decodes a character whose bytes arrive in two chunks (Anthropic upstream, translated stream)', async () => {
    const { createServer } = await import('node:http');
    const { AnthropicProvider } = await import('../src/providers/anthropic/provider.js');
    const text = '长江';
    const events = [
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 0 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
      { type: 'message_stop' },
    ];
    const body = Buffer.from(events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''));
    const cut = body.indexOf(Buffer.from('长')) + 1; // inside the first character's three bytes
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(body.subarray(0, cut));
        setTimeout(() => res.end(body.subarray(cut)), 30);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as { port: number };
      const p = new AnthropicProvider({ id: 'anthropic', baseURL: `http://127.0.0.1:${port}`, apiKey: 'sk-ant-test-key-123456', timeouts: { firstByteMs: 5000, idleMs: 5000 } });
      let got = '';
      for await (const e of p.stream({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] } as any, new AbortController().signal)) {
        if (e.type === 'text') got += e.text;
      }
      expect(got).toBe(text);
    } finally {
      server.close();
    }
  });
});
