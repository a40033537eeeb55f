/**
 * What the benchmark asks of the hub beyond OpenAI's Vector Stores API: the extension field
 * names, each in one place so a rename on the hub side is a one-line change here.
 */

/** Extension body fields the harness sends. */
export const EXT = {
  /** On vector store create: prepend "title › section" to each chunk before indexing (boolean). */
  contextualHeaders: 'contextual_headers',
  /** On vector store create: the model that embeds the store's chunks; null: keyword search only. */
  embeddingModel: 'embedding_model',
  /** On search, in a store with an embedding model: which ranking to use (one of MODES). */
  mode: 'baimo_mode',
} as const;

/**
 * hybrid_rerank is hybrid with the hub's rerank model (config `knowledge.rerankModel`) on:
 * standard `ranking_options.ranker` 'auto'; every other mode sends ranker 'none'.
 */
export type Mode = 'keyword' | 'vector' | 'hybrid' | 'hybrid_rerank';
export const MODES: readonly Mode[] = ['keyword', 'vector', 'hybrid', 'hybrid_rerank'];

/**
 * Chunking for every store and for the baseline's own chunker: small enough that a short
 * document is several chunks (at OpenAI's default of 800 tokens most of these documents would be
 * one chunk, and retrieval would be document retrieval).
 */
export const CHUNKING = { max_chunk_size_tokens: 200, chunk_overlap_tokens: 50 } as const;

/** Results asked of each search (MRR@10 needs ten). */
export const MAX_RESULTS = 10;
