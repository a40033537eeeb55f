import type { OpaqueReasoning, ProviderMetadata } from '../core/types.js';

/**
 * Opaque reasoning data (canonical `providerMetadata`) in client formats, which keep one opaque
 * string per reasoning block: Anthropic's `signature`, the Responses API's `encrypted_content`.
 * Clients keep whatever is there and send it back in later turns. A client format carries its own
 * family's signatures as they are (`native`: `anthropic` for Messages, `openai` for Responses);
 * any other family's are wrapped with the family's name (`baimo:gemini:…`) on the way out and
 * unwrapped on the way in, so that each goes back only to the family that made it.
 */
const PREFIX = 'baimo:';
const FAMILY = /^[a-z][a-z0-9_-]*$/;

/** The family and the data a reasoning part carries, if any (one family per part). */
export function opaqueOf(meta: ProviderMetadata | undefined): (OpaqueReasoning & { readonly family: string }) | undefined {
  if (meta === undefined) return undefined;
  for (const family in meta) {
    const data = meta[family];
    if (data !== undefined) return { family, ...data };
  }
  return undefined;
}

/** A family's signature (or redacted data) as a client of the `native` family keeps it. */
export function wrapSignature(family: string, signature: string, native: string): string {
  return family === native ? signature : `${PREFIX}${family}:${signature}`;
}

/**
 * A signature a client of the `native` family sent back, as canonical metadata; `key: 'redacted'`
 * for the data of a redacted block.
 */
export function unwrapSignature(value: string, native: string, key: keyof OpaqueReasoning = 'signature'): ProviderMetadata {
  if (value.startsWith(PREFIX)) {
    const rest = value.slice(PREFIX.length);
    const colon = rest.indexOf(':');
    const family = rest.slice(0, colon);
    if (colon > 0 && FAMILY.test(family)) return { [family]: { [key]: rest.slice(colon + 1) } };
  }
  return { [native]: { [key]: value } };
}
