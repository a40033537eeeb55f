import { createRequire } from 'node:module';
import { estimateTextTokens } from './estimate.js';

type Encoder = { encode(text: string): number[] };

const require = createRequire(import.meta.url);
const encoders = new Map<string, Encoder>();

/** OpenAI's public tokenizers, by model family. Other families publish none a library ships. */
function encodingFor(model: string): 'o200k_base' | 'cl100k_base' | undefined {
  const m = model.slice(model.lastIndexOf('/') + 1).toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[1-9]|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return undefined;
}

function encoder(name: 'o200k_base' | 'cl100k_base'): Encoder {
  let e = encoders.get(name);
  if (!e) {
    // Loaded on first use only (it takes a moment): counting is needed only when an upstream
    // reported no usage, e.g. a stream the client abandoned.
    const { getEncoding } = require('js-tiktoken') as { getEncoding(n: string): Encoder };
    e = getEncoding(name);
    encoders.set(name, e);
  }
  return e;
}

/** Tokens in `text` for `model`: exact with the model's own tokenizer where one exists, else an honest estimate. */
export function countTokens(model: string, text: string): { tokens: number; exact: boolean } {
  if (text === '') return { tokens: 0, exact: true };
  const enc = encodingFor(model);
  if (enc) return { tokens: encoder(enc).encode(text).length, exact: true };
  return { tokens: estimateTextTokens(text), exact: false };
}
