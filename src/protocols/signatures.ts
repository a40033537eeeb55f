import type { SignatureOrigin } from '../core/types.js';

/**
 * Signatures travel through clients and come back in later turns. A client speaking Anthropic's
 * format keeps whatever is in a thinking block's `signature`; so that a Gemini signature is not
 * later sent to Anthropic (which would reject it), signatures from other families are wrapped
 * with their origin on the way out and unwrapped on the way in. Anthropic's own pass untouched.
 */
const PREFIX = 'baimo:';

/** `native`: the family whose signatures this client format carries as they are (none for Responses). */
export function wrapSignature(signature: string, origin: SignatureOrigin | undefined, native?: SignatureOrigin): string {
  return origin === undefined || origin === native ? signature : `${PREFIX}${origin}:${signature}`;
}

export function unwrapSignature(signature: string, native?: SignatureOrigin): { signature: string; origin?: SignatureOrigin } {
  if (signature.startsWith(PREFIX)) {
    const rest = signature.slice(PREFIX.length);
    const colon = rest.indexOf(':');
    const origin = rest.slice(0, colon);
    if (colon > 0 && (origin === 'anthropic' || origin === 'gemini')) return { signature: rest.slice(colon + 1), origin };
  }
  return native === undefined ? { signature } : { signature, origin: native };
}
