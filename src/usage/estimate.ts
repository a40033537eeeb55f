import type { ChatRequest } from '../core/types.js';

/**
 * An honest estimate of prompt tokens where no tokenizer answers: about four characters per token
 * for Latin text, one per CJK character, plus a few tokens of framing per message. It is used only
 * where no upstream count exists (count_tokens for a model without one, stream start events).
 */
// CJK, Hangul and compatibility ideographs: all in the BMP, so counting UTF-16 units is exact.
const CJK = /[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]+/g;

/** CJK characters in `text` from `from` on (denser in tokens than Latin text: about one each). */
export function cjkChars(text: string, from = 0): number {
  // A regex scan is native: ~1000x faster than a per-character loop on Latin text (V8 sees that
  // a one-byte string cannot match) and ~5x on Chinese. Agents send prompts of 100 KB and more.
  let n = 0;
  CJK.lastIndex = from;
  for (let m = CJK.exec(text); m; m = CJK.exec(text)) n += m[0].length;
  return n;
}

export function estimateTextTokens(text: string): number {
  const cjk = cjkChars(text);
  return cjk + Math.ceil((text.length - cjk) / 4);
}

const PER_MESSAGE = 4;
const PER_IMAGE = 765; // a high-detail 512px tile in OpenAI's accounting; a middle-of-the-road guess

export function estimatePromptTokens(r: ChatRequest): number {
  let n = 3;
  for (const m of r.messages) {
    n += PER_MESSAGE;
    if (m.role === 'user') {
      for (const p of m.content) n += p.type === 'text' ? estimateTextTokens(p.text) : PER_IMAGE;
    } else if (m.role === 'assistant') {
      n += estimateTextTokens(m.content);
      for (const r of m.reasoning ?? []) n += estimateTextTokens(r.text);
      for (const c of m.toolCalls ?? []) n += estimateTextTokens(c.name) + estimateTextTokens(c.arguments) + 3;
    } else n += estimateTextTokens(m.content);
  }
  for (const t of r.tools ?? []) n += estimateTextTokens(JSON.stringify(t)) + 3;
  return n;
}

/** Every piece of text a request sends, for counting with a real tokenizer. */
export function promptText(r: ChatRequest): string {
  const parts: string[] = [];
  for (const m of r.messages) {
    if (m.role === 'user') for (const p of m.content) parts.push(p.type === 'text' ? p.text : '');
    else if (m.role === 'assistant') {
      parts.push(m.content);
      for (const x of m.reasoning ?? []) parts.push(x.text);
      for (const c of m.toolCalls ?? []) parts.push(c.name, c.arguments);
    } else parts.push(m.content);
  }
  for (const t of r.tools ?? []) parts.push(JSON.stringify(t));
  return parts.join('\n');
}

/**
 * An upper bound on a request's prompt tokens, for budget reservations: no tokenizer counts a text
 * as more tokens than it has UTF-8 bytes (byte-level BPE — OpenAI, Anthropic, Llama, Qwen,
 * DeepSeek — and SentencePiece with byte fallback — Gemini — map every token to at least one
 * byte). Prompts that tokenize badly (random alphanumerics, emoji, Thai) stay under it, where a
 * characters/4 estimate fell short 4-6 times. `Buffer.byteLength` is native: no tokenizer runs.
 */
export function textTokenBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Chat-template framing per message (role markers, separators): 3-4 tokens on OpenAI's models; kept generous. */
const BOUND_PER_MESSAGE = 8;
/**
 * One image, after the provider scales it down: Anthropic ≤ ~1,600 tokens, OpenAI's gpt-4o family
 * ≤ 1,105 (high detail, 6 tiles), Gemini 258 per tile or ≤ 1,120. OpenAI's mini models bill images
 * at many more tokens of a cheaper price; their cost stays within what this bound reserves at gpt-4o prices only.
 */
const BOUND_PER_IMAGE = 2_048;
/** The tool-use instructions a provider adds when tools are offered (Anthropic: ~350 tokens). */
const BOUND_TOOLS_PREAMBLE = 512;

/**
 * Bounds already computed, per request object: a virtual model's member call asks for its
 * request's bound up to three times (the run's cost ceiling, the sub-call's admission, its
 * worst case per route), and a long conversation costs a walk over every message each time.
 * Requests are not changed once built (their fields are readonly), so the bound stays right.
 */
const bounds = new WeakMap<ChatRequest, number>();

/** An upper bound on the prompt tokens of a request (see textTokenBound); computed once per request object. */
export function promptTokenBound(r: ChatRequest): number {
  let n = bounds.get(r);
  if (n === undefined) {
    n = computeBound(r);
    bounds.set(r, n);
  }
  return n;
}

function computeBound(r: ChatRequest): number {
  let n = 8;
  for (const m of r.messages) {
    n += BOUND_PER_MESSAGE;
    if (m.role === 'user') {
      for (const p of m.content) n += p.type === 'text' ? textTokenBound(p.text) : BOUND_PER_IMAGE;
    } else if (m.role === 'assistant') {
      n += textTokenBound(m.content);
      for (const x of m.reasoning ?? []) n += textTokenBound(x.text);
      for (const c of m.toolCalls ?? []) n += textTokenBound(c.name) + textTokenBound(c.arguments) + BOUND_PER_MESSAGE;
    } else n += textTokenBound(m.content);
  }
  if (r.tools?.length) {
    n += BOUND_TOOLS_PREAMBLE;
    for (const t of r.tools) n += textTokenBound(JSON.stringify(t)) + BOUND_PER_MESSAGE;
  }
  // A JSON schema for structured output is sent to the model too.
  if (r.responseFormat) n += textTokenBound(JSON.stringify(r.responseFormat));
  return n;
}
