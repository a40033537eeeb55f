import { countTokens, loadTokenizer } from '../../usage/tokens.js';
import { indexTerms } from '../segment.js';
import { chunkDocument, type ChunkOptions, type DraftChunk } from './chunk.js';
import { extractDocument } from './extract.js';

/** A chunk ready for the index: its keyword terms too. */
export type PreparedChunk = DraftChunk & { readonly terms: string };

export interface PreparedFile {
  readonly title: string;
  readonly chunks: PreparedChunk[];
}

/**
 * Chunks are measured with OpenAI's o200k_base tokenizer (the project's own counter in
 * usage/tokens.ts, as for gpt-4o): OpenAI's chunk sizes are in its tokens, and most embedding
 * models' tokenizers are close enough for a size limit.
 */
export const CHUNK_TOKENIZER_MODEL = 'gpt-4o';

/**
 * A file's title and its chunks, each with the words the keyword index holds for it: its header
 * and text when contextual headers are on (so a query for a section's name finds its chunks),
 * its text alone otherwise. CPU-bound (PDF parsing, jieba): the hub calls it through the ingest
 * pool (pool.ts), never on its event loop.
 */
export async function prepareFile(bytes: Uint8Array, filename: string, opts: ChunkOptions): Promise<PreparedFile> {
  const doc = await extractDocument(bytes, filename);
  // Counts are exact once the table is loaded; before that they are estimates.
  await loadTokenizer(CHUNK_TOKENIZER_MODEL);
  const count = (text: string) => countTokens(CHUNK_TOKENIZER_MODEL, text).tokens;
  const chunks = chunkDocument(doc, opts, count).map((c) => ({
    ...c,
    terms: indexTerms(opts.contextualHeaders ? `${c.header}\n${c.text}` : c.text),
  }));
  return { title: doc.title, chunks };
}
