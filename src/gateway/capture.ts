import type { Redactor } from '../core/redact.js';
import { redactBody, truncate } from '../usage/redact.js';
import type { CallInfo, Hook } from './hooks.js';

/**
 * Body capture for the request log (`logging.bodies`), as a hook: `sent` keeps what the response
 * sends (at most about `maxBytes` of it), and the post-hook puts the request and the response on
 * the record, secret-looking fields and the hub's upstream secrets taken out, each cut to
 * `maxBytes`. HTTP calls only: a call without a client has no bodies to keep.
 */
export function bodyCapture(maxBytes: number, redactor: Redactor): Hook {
  const sent = new WeakMap<CallInfo, { parts: string[]; size: number }>();
  const keep = (text: string) => truncate(redactor.redact(redactBody(text)), maxBytes);
  return {
    name: 'body-capture',
    sent(c, text) {
      let s = sent.get(c);
      if (!s) sent.set(c, (s = { parts: [], size: 0 }));
      if (s.size > maxBytes) return;
      s.size += text.length;
      s.parts.push(text);
    },
    post(end) {
      const c = end.info;
      if (c.via !== 'http') return;
      end.bodies = { request: keep(c.rawBody), response: keep(sent.get(c)?.parts.join('') ?? '') };
    },
  };
}
