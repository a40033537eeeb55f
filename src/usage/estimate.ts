import type { ChatRequest } from '../core/types.js';

/**
 * An honest estimate of prompt tokens where no tokenizer answers: about four characters per token
 * for Latin text, one per CJK character, plus a few tokens of framing per message. It is used only
 * where no upstream count exists (count_tokens for a model without one, stream start events).
 */
// CJK, Hangul and compatibility ideographs: all in the BMP, so counting UTF-16 units is exact.
const CJK = /[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]+/g;

export function estimateTextTokens(text: string): number {
  // A regex scan is native: ~1000x faster than a per-character loop on Latin text (V8 sees that
  // a one-byte string cannot match) and ~5x on Chinese. Agents send prompts of 100 KB and more.
  let cjk = 0;
  CJK.lastIndex = 0;
  for (let m = CJK.exec(text); m; m = CJK.exec(text)) cjk += m[0].length;
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
