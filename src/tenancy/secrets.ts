import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomString(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  // Rejection sampling keeps every character equally likely.
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    const b = bytes[i]!;
    if (b < 248) out += ALPHABET[b % 62];
  }
  return out.length === length ? out : out + randomString(length - out.length);
}

/**
 * Keys are 190 bits of randomness, so a fast hash is enough to store them: nobody can brute-force
 * the preimage of a SHA-256 over a random 32-character key.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface NewKey {
  /** The secret, shown once. */
  readonly key: string;
  readonly hash: string;
  /** The visible start of the key, for telling keys apart in lists and logs. */
  readonly prefix: string;
}

export function newKey(kind: 'sk-baimo' | 'sk-baimo-admin'): NewKey {
  const key = `${kind}-${randomString(32)}`;
  return { key, hash: hashKey(key), prefix: `${key.slice(0, kind.length + 5)}…` };
}

/** The key a request carries: `Authorization: Bearer …` (OpenAI, newer Anthropic SDKs) or `x-api-key` (Anthropic). */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.trim()) return x.trim();
  return undefined;
}

/**
 * Why an Authorization header that carries no key cannot be used (`Authorization: sk-…`
 * without `Bearer `, `Basic …`, an empty `Bearer`), or undefined when there is none such.
 */
export function authorizationProblem(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (auth === undefined || auth === '' || presentedKey(headers)) return undefined;
  const value = Array.isArray(auth) ? (auth[0] ?? '') : auth;
  // Only a well-known scheme's name is repeated: anything else may be the key itself.
  const scheme = /^\s*(Basic|Digest|Token|Negotiate|NTLM|ApiKey|Api-Key|Key)\s/i.exec(value)?.[1];
  const what = scheme ? `uses the ${scheme} scheme` : /^\s*Bearer\s*$/i.test(value) ? 'has no key after Bearer' : 'has no `Bearer ` before the key';
  return `The Authorization header ${what}: send the key as \`Authorization: Bearer <key>\` (or as \`x-api-key: <key>\`).`;
}
