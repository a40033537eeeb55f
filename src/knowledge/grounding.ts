/**
 * Grounding a chat request in retrieved passages, for any model: the passages go into a system
 * message, numbered, with the instruction to cite them as [n]; the answer's markers become its
 * format's citations (core/citations.ts). Used by the `rag` virtual model and by the `file_search`
 * tool of /v1/responses. Pure: retrieval itself is the caller's (knowledge/search.ts).
 */
import type { ChatRequest, Message, RetrievedPassage } from '../core/types.js';

/** The default instructions; `{{sources}}` and `{{query}}` are filled in. */
export const DEFAULT_GROUNDING_TEMPLATE = [
  'Answer using the sources below. After each claim that uses a source, cite it by its number in square brackets, like [1] or [2][3].',
  'If the sources do not contain the answer, say that you could not find it in the documents, and do not make one up.',
  'Answer in the language of the question.',
  '',
  'Sources:',
  '{{sources}}',
].join('\n');

/** At most this much of a passage goes into the prompt; search returns chunks, so this rarely cuts. */
const MAX_PASSAGE_CHARS = 8000;

/** The text of the last user message: what a grounded answer searches for. */
export function lastUserText(request: ChatRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const m = request.messages[i]!;
    if (m.role !== 'user') continue;
    return m.content
      .filter((p) => p.type === 'text')
      .map((p) => p.text)
      .join('\n')
      .trim();
  }
  return '';
}

/** The passages as the prompt numbers them. */
export function sourcesBlock(passages: readonly RetrievedPassage[]): string {
  if (passages.length === 0) return '(no source matched the question)';
  return passages.map((p, i) => `[${i + 1}] ${p.filename}\n${p.text.length > MAX_PASSAGE_CHARS ? `${p.text.slice(0, MAX_PASSAGE_CHARS)}…` : p.text}`).join('\n\n');
}

/** The grounding instructions: `template` with `{{sources}}` and `{{query}}` replaced (each once, literally). */
export function groundingText(passages: readonly RetrievedPassage[], query: string, template = DEFAULT_GROUNDING_TEMPLATE): string {
  const sources = sourcesBlock(passages);
  // A function replacement: `$&` or `$1` in a passage must stay as written.
  const filled = template.replace('{{sources}}', () => sources).replace('{{query}}', () => query);
  return template.includes('{{sources}}') ? filled : `${filled}\n\nSources:\n${sources}`;
}

/**
 * `request` with the grounding instructions as a system message ahead of the conversation's
 * own (kept after it: the caller's instructions still speak last about tone and format).
 */
export function groundedRequest(request: ChatRequest, passages: readonly RetrievedPassage[], query: string, template?: string): ChatRequest {
  const grounding: Message = { role: 'system', content: groundingText(passages, query, template) };
  return { ...request, messages: [grounding, ...request.messages] };
}
