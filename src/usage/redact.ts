/**
 * Takes secrets out of captured bodies: values of secret-looking fields, and strings shaped like
 * keys or bearer tokens wherever they appear.
 */
const SECRET_FIELD = /^(api[-_]?key|x-api-key|authorization|password|passwd|secret|client[-_]?secret|access[-_]?token|refresh[-_]?token|token)$/i;
const SECRET_TEXT = /\b(?:sk|pk|rk|ak)-[A-Za-z0-9_-]{12,}|\bBearer\s+[A-Za-z0-9._~+/=-]{12,}|\bAIza[0-9A-Za-z_-]{20,}|\bey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g;

export function redactText(text: string): string {
  return text.replace(SECRET_TEXT, '[REDACTED]');
}

function redactValue(v: unknown): unknown {
  if (typeof v === 'string') return redactText(v);
  if (Array.isArray(v)) return v.map(redactValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) ? '[REDACTED]' : redactValue(x);
    return out;
  }
  return v;
}

/** A JSON body with secrets removed; a body that is not JSON is redacted as text. */
export function redactBody(text: string): string {
  try {
    return JSON.stringify(redactValue(JSON.parse(text)));
  } catch {
    return redactText(text);
  }
}

export function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const cut = Buffer.from(text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  return `${cut}…[truncated]`;
}
