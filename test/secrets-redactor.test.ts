import { describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.js';
import { REDACTED, Redactor } from '../src/core/redact.js';
import { streamError, upstreamError } from '../src/providers/openai-compatible/errors.js';
import { upstreamError as anthropicError } from '../src/providers/anthropic/errors.js';
import { geminiError } from '../src/providers/gemini/errors.js';
import { createLogger } from '../src/server/log.js';
import { redactBody } from '../src/usage/redact.js';

// GLM's `id.secret` form: no `sk-`, `AIza` or JWT shape for a pattern to catch.
const KEY = '3f2a9c0d7b1e4f60a8c2d5e7f9b1c3e1.Xy7QpLmZr9Wv2KdT';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe('Redactor', () => {
  const r = new Redactor([KEY]);

  it('takes a configured key out by exact value, whatever its shape', () => {
    expect(r.redact(`key ${KEY} was refused`)).toBe(`key ${REDACTED} was refused`);
    expect(r.redact(`${KEY}${KEY}`)).toBe(`${REDACTED}${REDACTED}`);
  });

  it('takes it out base64- and base64url-encoded, alone or inside user:key (HTTP Basic), at any alignment', () => {
    for (const prefix of ['', ':', 'u:', 'user:', 'longer-user-name:', 'ab']) {
      for (const suffix of ['', 'x', 'yz', '\n']) {
        const plain = `${prefix}${KEY}${suffix}`;
        for (const enc of [b64(plain), b64url(plain)]) {
          const out = r.redact(`Authorization: Basic ${enc} rejected`);
          expect(out, plain).toContain(REDACTED);
          // What is left of the encoding holds at most a few bytes at either end of the key.
          const left = out.replace('Authorization: Basic ', '').replace(' rejected', '').split(REDACTED);
          for (const part of left) expect(Buffer.from(part, 'base64').length).toBeLessThanOrEqual(prefix.length + suffix.length + 3);
        }
      }
    }
  });

  it('takes it out URL-encoded and JSON-escaped', () => {
    const odd = new Redactor(['pa/ss+wo"rd\\x=y z']);
    expect(odd.redact(`url ${encodeURIComponent('pa/ss+wo"rd\\x=y z')}`)).toBe(`url ${REDACTED}`);
    expect(odd.redact(`form ${encodeURIComponent('pa/ss+wo"rd\\x=y z').replace('%20', '+')}`)).toBe(`form ${REDACTED}`);
    expect(odd.redact(JSON.stringify({ m: 'pa/ss+wo"rd\\x=y z' }))).toBe(`{"m":"${REDACTED}"}`);
    expect(odd.redact('{"m":"pa\\/ss+wo\\"rd\\\\x=y z"}')).toBe(`{"m":"${REDACTED}"}`);
  });

  it('ignores values shorter than 8 characters, and is empty without secrets', () => {
    const short = new Redactor(['abc1234', undefined, '']);
    expect(short.empty).toBe(true);
    expect(short.redact('abc1234 stays')).toBe('abc1234 stays');
  });

  it('reads a provider: key, credential headers (Bearer, Basic decoded), base-URL credentials; not plain headers', () => {
    const p = new Redactor();
    p.addProvider({
      apiKey: KEY,
      headers: { 'anthropic-version': '2023-06-01', 'X-Api-Token': 'tok_0123456789abcdef', Authorization: `Basic ${b64('svc:hunter2-long-password')}`, 'x-other': 'Token abcdefgh12345' },
      baseURL: 'https://svc:url-password-123@proxy.example/v1?api-key=query-secret-4567',
    });
    const text = `${KEY} tok_0123456789abcdef hunter2-long-password svc:hunter2-long-password abcdefgh12345 url-password-123 query-secret-4567 2023-06-01`;
    expect(p.redact(text)).toBe(`${Array(7).fill(REDACTED).join(' ')} 2023-06-01`);
  });

  it('scrubs key-shaped strings too, and copies an error only when its message changes', () => {
    expect(r.scrub('got sk-abcdefghijklmnop1234 and Bearer abcdefghijklmnopqrst')).toBe(`got ${REDACTED} and ${REDACTED}`);
    const clean = new HubError('upstream', 'nothing here', { status: 502, code: 'x', provider: 'glm' });
    expect(r.error(clean)).toBe(clean);
    const dirty = r.error(new HubError('rate_limited', `slow down ${KEY}`, { status: 429, retryAfter: 7, provider: 'glm', code: 'c' }));
    expect(dirty).toMatchObject({ kind: 'rate_limited', status: 429, retryAfter: 7, provider: 'glm', code: 'c', message: `slow down ${REDACTED}` });
  });

  it('is what the provider error mapping and stream error parsing apply (not only the provider key, not only patterns)', () => {
    const shared = new Redactor([KEY, 'other-provider-secret-99']);
    const e = upstreamError('glm', 400, {}, JSON.stringify({ error: { message: `bad ${b64(`user:${KEY}`)} and other-provider-secret-99` } }), shared);
    expect(e.message).not.toContain('other-provider-secret-99');
    expect(e.message).not.toContain(b64(`user:${KEY}`).slice(8, 40));
    expect(streamError('glm', { message: `mid ${KEY}` }, shared).message).toBe(`Upstream glm failed mid-stream: mid ${REDACTED}`);
  });

  it('scrubs an HTML error page before cutting it, so no half of a key is left at the cut', () => {
    const page = `<html><body>${'x'.repeat(280)} ${KEY} trailing</body></html>`;
    for (const [name, fn] of [['openai', upstreamError], ['anthropic', anthropicError], ['gemini', geminiError]] as const) {
      const e = fn('glm', 502, {}, page, r);
      expect(e.message, name).not.toContain(KEY.slice(0, 8));
      expect(e.message, name).toMatch(/ \[REDACT/);
    }
  });

  it('and stored bodies: redactBody catches shapes, the Redactor the configured values', () => {
    const stored = r.redact(redactBody(JSON.stringify({ error: { message: `key ${KEY}` } })));
    expect(stored).toBe(`{"error":{"message":"key ${REDACTED}"}}`);
  });
});

describe('log lines', () => {
  it('have the hub secrets taken out of every string logged through pino', async () => {
    let out = '';
    const log = createLogger('info', { write: (s: string) => void (out += s) }, new Redactor([KEY]));
    log.error({ msg: `unhandled error ${KEY}`, err_message: `upstream said ${KEY}`, nested: { list: [`${b64(`:${KEY}`)}`] } });
    log.warn(`plain message ${KEY}`);
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    expect(out).toContain('unhandled error [REDACTED]');
    expect(out).toContain('upstream said [REDACTED]');
    expect(out).toContain('plain message [REDACTED]');
    expect(out).not.toContain(KEY);
    expect(out).not.toContain(b64(`:${KEY}`).slice(4, -4));
  });
});
