/**
 * Built-in model catalog: prices, limits and capabilities of well-known models.
 *
 * - Prices are looked up in this order (src/catalog/prices.ts): config overrides, this table's
 *   CNY entries (Chinese providers bill in CNY; the hub's own addition), the maintained data
 *   package `@pydantic/genai-prices` (src/catalog/package.ts), and last this table's USD entries,
 *   which matter only for models the package does not list yet. Output limits and modalities
 *   recorded here are used wherever an entry exists.
 *
 * - All prices are per ONE MILLION tokens, in the currency the provider bills in
 *   (`USD` or `CNY`). CNY prices are kept in CNY; the hub converts at a
 *   configurable rate. Nothing here is converted or rounded.
 * - Where a provider tiers prices (by prompt length, or by time of day for
 *   DeepSeek) the LOWEST tier is recorded and `note` says so.
 * - Every entry names the page its numbers were read from (`source`) and when
 *   (`asOf`: the date on the page or of the stored copy if known, otherwise the
 *   date the catalog was compiled, 2026-11-23). Where a secondary page had to be
 *   used, or a field came from a different page, `note` says which.
 * - Prices change often. Treat this file as a dated snapshot; users override it
 *   in config. Models whose price or limits could not be found are left out
 *   rather than guessed.
 *
 * This module is data only (plus a lookup helper).
 */

export type Modality = 'text' | 'image' | 'audio' | 'video' | 'pdf';

export interface Price {
  /** Currency the provider bills in. CNY prices stay in CNY; the hub converts at a configurable rate. */
  readonly currency: 'USD' | 'CNY';
  /** Per million tokens. */
  readonly input: number;
  readonly output: number;
  /** Per million prompt tokens served from cache (cache hit / cache read). */
  readonly cachedInput?: number;
  /** Per million prompt tokens written to cache (Anthropic 5-minute cache write; others if they charge for it). */
  readonly cacheWrite?: number;
}

export interface CatalogEntry {
  /** The model id exactly as the provider's API expects it. */
  readonly id: string;
  /** Preset provider ids that serve it under this id (see src/catalog/presets.ts). */
  readonly providers: readonly string[];
  readonly name: string;
  readonly contextWindow: number;
  readonly maxOutput: number;
  readonly input: readonly Modality[];
  readonly output: readonly Modality[];
  readonly tools: boolean;
  readonly reasoning: boolean;
  readonly price: Price;
  /** Where the price and limits came from. */
  readonly source: string;
  readonly asOf: string;
  /** Anything a reader must know, e.g. "price for prompts ≤ 200k tokens; longer prompts cost more". */
  readonly note?: string;
}

const COMPILED = '2026-11-23';

export const CATALOG: readonly CatalogEntry[] = [
  // ------------------------------------------------------------- OpenAI ---
  {
    id: 'gpt-5.5',
    providers: ['openai'],
    name: 'GPT-5.5',
    contextWindow: 1_050_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 5, output: 30, cachedInput: 0.5 },
    source: 'https://github.com/github/docs/blob/main/data/tables/copilot/models-and-pricing.yml',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 272K tokens; longer prompts cost more ($10 in / $1 cached / $45 out). Prices from GitHub\'s per-token table, which lists OpenAI list prices (OpenAI\'s own pricing page was not in the searchable copies). Limits (1,050,000 / 128,000) from docs.oxen.ai model page, not confirmed on developers.openai.com.',
  },
  {
    id: 'gpt-5.4',
    providers: ['openai'],
    name: 'GPT-5.4',
    contextWindow: 1_050_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 2.5, output: 15, cachedInput: 0.25 },
    source: 'https://github.com/github/docs/blob/main/data/tables/copilot/models-and-pricing.yml',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 272K tokens; above that OpenAI bills 2x input and 1.5x output for the whole session ($5 / $0.50 / $22.50, per developers.openai.com GPT-5.4 Pro page and the GitHub table). Limits (1,050,000 / 128,000) from docs.oxen.ai, not confirmed on developers.openai.com.',
  },
  {
    id: 'gpt-5.4-mini',
    providers: ['openai'],
    name: 'GPT-5.4 mini',
    contextWindow: 400_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 0.75, output: 4.5, cachedInput: 0.075 },
    source: 'https://github.com/github/docs/blob/main/data/tables/copilot/models-and-pricing.yml',
    asOf: COMPILED,
    note: 'Limits (400,000 / 128,000) from vercel.com/ai-gateway/models/openai/gpt-5.4-mini-fast, not confirmed on developers.openai.com.',
  },
  {
    id: 'gpt-5-mini',
    providers: ['openai'],
    name: 'GPT-5 mini',
    contextWindow: 400_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 0.25, output: 2, cachedInput: 0.025 },
    source: 'https://developers.openai.com/ko-KR/api/docs/models/gpt-5-mini',
    asOf: COMPILED,
    note: 'OpenAI marks gpt-5-mini as scheduled for deprecation.',
  },
  {
    id: 'gpt-5-nano',
    providers: ['openai'],
    name: 'GPT-5 nano',
    contextWindow: 400_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 0.05, output: 0.4, cachedInput: 0.005 },
    source: 'https://developers.openai.com/api/docs/models/gpt-5-nano',
    asOf: COMPILED,
    note: 'OpenAI marks gpt-5-nano as deprecated; maximum input 272,000 tokens.',
  },
  {
    id: 'gpt-4.1',
    providers: ['openai'],
    name: 'GPT-4.1',
    contextWindow: 1_047_576,
    maxOutput: 32_768,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: false,
    price: { currency: 'USD', input: 2, output: 8, cachedInput: 0.5 },
    source: 'https://vercel.com/ai-gateway/models/gpt-4.1/providers',
    asOf: COMPILED,
    note: 'Price is the OpenAI row of Vercel AI Gateway\'s provider table (Vercel states it passes provider prices through); not read on developers.openai.com.',
  },

  // ---------------------------------------------------------- Anthropic ---
  {
    id: 'claude-fable-5-1',
    providers: ['anthropic'],
    name: 'Claude Fable 5.1',
    contextWindow: 1_000_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 10, output: 50, cachedInput: 0.25, cacheWrite: 12.5 },
    source: 'https://platform.claude.com/docs/en/about-claude/pricing',
    asOf: COMPILED,
    note: 'cacheWrite is the 5-minute cache write; 1-hour writes cost $20. Model id from the Claude Code model list (docs.rs claude-codes), limits from the comparison table on Anthropic\'s model pages.',
  },
  {
    id: 'claude-opus-5-5',
    providers: ['anthropic'],
    name: 'Claude Opus 5.5',
    contextWindow: 1_000_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 4, output: 20, cachedInput: 0.2, cacheWrite: 5 },
    source: 'https://platform.claude.com/docs/zh-CN/models/opus-5-5/overview',
    asOf: COMPILED,
    note: 'cacheWrite is the 5-minute cache write; 1-hour writes cost $8. Thinking is always on.',
  },
  {
    id: 'claude-sonnet-5-5',
    providers: ['anthropic'],
    name: 'Claude Sonnet 5.5',
    contextWindow: 1_000_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 2, output: 10, cachedInput: 0.1, cacheWrite: 2.5 },
    source: 'https://platform.claude.com/docs/zh-CN/models/sonnet-5-5/overview',
    asOf: COMPILED,
    note:
      'cacheWrite is the 5-minute cache write; 1-hour writes cost $4. cachedInput 0.10 reflects the cache-read cut effective 2026-10-07 (reported by kurofune/claudit v1.9.2 and TheKrush/PromptFuel v1.0.23 against the live pricing page); the stored copy of the model page still shows $0.20.',
  },
  {
    id: 'claude-haiku-5-5',
    providers: ['anthropic'],
    name: 'Claude Haiku 5.5',
    contextWindow: 1_000_000,
    maxOutput: 128_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 0.1, output: 0.5, cachedInput: 0.01, cacheWrite: 0.125 },
    source: 'https://platform.claude.com/docs/zh-CN/models/haiku-5-5/overview',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 100K tokens (input + cache reads + cache writes); longer prompts cost $0.50 in / $2.50 out / $0.05 cache read / $0.625 5m write for the whole request. Cache prices from release notes of TheKrush/PromptFuel v1.0.23 and kurofune/claudit v1.9.2 (checked against the live page); the model page gives only "from $0.10 / $0.50".',
  },
  {
    id: 'claude-haiku-4-5',
    providers: ['anthropic'],
    name: 'Claude Haiku 4.5',
    contextWindow: 200_000,
    maxOutput: 64_000,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 1, output: 5, cachedInput: 0.1, cacheWrite: 1.25 },
    source: 'https://platform.claude.com/docs/en/about-claude/pricing',
    asOf: COMPILED,
    note: 'cacheWrite is the 5-minute cache write; 1-hour writes cost $2. Limits from the comparison table on Anthropic\'s model pages.',
  },

  // ------------------------------------------------------------- Gemini ---
  {
    id: 'gemini-3.1-pro-preview',
    providers: ['gemini'],
    name: 'Gemini 3.1 Pro (preview)',
    contextWindow: 1_048_576,
    maxOutput: 65_536,
    input: ['text', 'image', 'audio', 'video', 'pdf'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 2, output: 12, cachedInput: 0.2 },
    source: 'https://raw.githubusercontent.com/api-evangelist/deepmind/refs/heads/main/plans/deepmind-plans-pricing.yml',
    asOf: '2026-10-07',
    note:
      'Price for prompts ≤ 200K tokens; longer prompts cost $4 in / $18 out. Input/output quoted verbatim from ai.google.dev/gemini-api/docs/pricing (transcription dated 2026-10-07); cachedInput from GitHub\'s Copilot price table; limits from simstudioai/sim provider table (not read on ai.google.dev). Preview model.',
  },
  {
    id: 'gemini-3.5-flash',
    providers: ['gemini'],
    name: 'Gemini 3.5 Flash',
    contextWindow: 1_048_576,
    maxOutput: 65_536,
    input: ['text', 'image', 'audio', 'video', 'pdf'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 1.5, output: 9, cachedInput: 0.15 },
    source: 'https://ai.google.dev/gemini-api/docs/models/gemini-3.5-flash',
    asOf: COMPILED,
    note:
      'Limits and modalities from the model page; input/output price from the ai.google.dev pricing page as transcribed 2026-10-07 (api-evangelist/deepmind); cachedInput from GitHub\'s Copilot price table. A later copy of the model page marks gemini-3.5-flash deprecated and routed to gemini-3.6-flash (not catalogued: price not confirmed).',
  },
  {
    id: 'gemini-2.5-pro',
    providers: ['gemini'],
    name: 'Gemini 2.5 Pro',
    contextWindow: 1_048_576,
    maxOutput: 65_535,
    input: ['text', 'image', 'audio', 'video', 'pdf'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 1.25, output: 10, cachedInput: 0.125 },
    source: 'https://raw.githubusercontent.com/api-evangelist/gemini/refs/heads/main/plans/gemini-plans-pricing.yml',
    asOf: '2026-09-20',
    note:
      'Price for prompts ≤ 200K tokens; longer prompts cost $2.50 in / $15 out / $0.25 cached. Input quoted verbatim from ai.google.dev pricing (transcription 2026-09-20); output from deploybase.ai (citing Google\'s page); cached price as quoted from the pricing page on discuss.ai.google.dev; context-cache storage ($4.50/M tokens/hour) not modelled. Limits from the Google Cloud model page (docs.cloud.google.com, gemini-2.5-pro).',
  },
  {
    id: 'gemini-2.5-flash-lite',
    providers: ['gemini'],
    name: 'Gemini 2.5 Flash-Lite',
    contextWindow: 1_048_576,
    maxOutput: 65_536,
    input: ['text', 'image', 'audio', 'video', 'pdf'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'USD', input: 0.1, output: 0.4 },
    source: 'https://raw.githubusercontent.com/api-evangelist/gemini/refs/heads/main/plans/gemini-plans-pricing.yml',
    asOf: '2026-09-20',
    note:
      'Output quoted verbatim from ai.google.dev pricing (transcription 2026-09-20); input ($0.10, text/image/video) from aifreeapi.com and hivebook.wiki, not read on Google\'s page; cache price not confirmed. Limits from the Google Cloud model page (gemini-2.5-flash-lite).',
  },

  // ----------------------------------------------------------- DeepSeek ---
  // Currency choice: CNY (the zh-cn pricing page; api.deepseek.com bills CNY
  // accounts in CNY). The USD page lists separate, non-converted USD prices.
  {
    id: 'deepseek-flash',
    providers: ['deepseek'],
    name: 'DeepSeek V4.1 Flash',
    contextWindow: 1_048_576,
    maxOutput: 393_216,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 1, output: 4, cachedInput: 0.02 },
    source: 'https://api-docs.deepseek.com/zh-cn/quick_start/pricing',
    asOf: COMPILED,
    note:
      'Off-peak price (the lower tier). Peak hours (Beijing time Mon-Fri 09:00-12:00 and 14:00-18:00, excluding Chinese public holidays) cost double: ¥2 in / ¥8 out / ¥0.04 cached. Thinking mode on by default. Page gives "1M" context and "384K" max output.',
  },
  {
    id: 'deepseek-v4-flash',
    providers: ['deepseek'],
    name: 'DeepSeek V4 Flash (legacy name)',
    contextWindow: 1_048_576,
    maxOutput: 393_216,
    input: ['text', 'image'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 1, output: 4, cachedInput: 0.02 },
    source: 'https://api-docs.deepseek.com/zh-cn/quick_start/pricing',
    asOf: COMPILED,
    note:
      'Legacy name, still accepted: served by DeepSeek-V4.1-Flash and billed at the deepseek-flash price. Off-peak price; peak hours (Beijing Mon-Fri 09:00-12:00, 14:00-18:00) cost double.',
  },
  {
    id: 'deepseek-v4-pro',
    providers: ['deepseek'],
    name: 'DeepSeek V4 Pro',
    contextWindow: 1_048_576,
    maxOutput: 393_216,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 4.5, output: 13.5, cachedInput: 0.15 },
    source: 'https://api-docs.deepseek.com/zh-cn/quick_start/pricing',
    asOf: COMPILED,
    note:
      'Off-peak price (the lower tier). Peak hours (Beijing time Mon-Fri 09:00-12:00 and 14:00-18:00, excluding Chinese public holidays) cost double: ¥9 in / ¥27 out / ¥0.30 cached. No image input.',
  },

  // --------------------------------------------------------------- Qwen ---
  // China (Beijing) region prices in CNY.
  {
    id: 'qwen3-max',
    providers: ['qwen'],
    name: 'Qwen3-Max',
    contextWindow: 262_144,
    maxOutput: 65_536,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: false,
    price: { currency: 'CNY', input: 2.5, output: 10, cachedInput: 0.5 },
    source: 'https://github.com/qxytah/qwen-api-pricing',
    asOf: '2026-05-31',
    note:
      'Price for prompts ≤ 32K tokens; 32K-128K costs ¥4 in / ¥16 out, 128K-256K ¥7 / ¥28. Third-party summary of the Model Studio price list ("updated May 2026"), not read on help.aliyun.com. cachedInput is the implicit-cache rate, 20% of input, per help.aliyun.com/zh/model-studio/context-cache. Limits from vercel.com/ai-gateway/models/qwen3-max.',
  },
  {
    id: 'qwen-max',
    providers: ['qwen'],
    name: 'Qwen-Max',
    contextWindow: 32_768,
    maxOutput: 8_192,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: false,
    price: { currency: 'CNY', input: 2.4, output: 9.6 },
    source: 'https://github.com/qxytah/qwen-api-pricing',
    asOf: '2026-05-31',
    note: 'Third-party summary of the Model Studio price list, not read on help.aliyun.com. Limits from an older help.aliyun.com model table (32,768 context, 8,192 max output).',
  },
  {
    id: 'qwen-turbo',
    providers: ['qwen'],
    name: 'Qwen-Turbo',
    contextWindow: 131_072,
    maxOutput: 16_384,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 0.3, output: 0.6 },
    source: 'https://github.com/qxytah/qwen-api-pricing',
    asOf: '2026-05-31',
    note: 'Non-thinking output price. Third-party summary of the Model Studio price list, not read on help.aliyun.com. Limits from help.aliyun.com/en/model-studio/qwen-turbo (131,072 context, 16,384 max output).',
  },

  // ---------------------------------------------------------------- GLM ---
  {
    id: 'glm-5.3',
    providers: ['glm'],
    name: 'GLM-5.3',
    contextWindow: 1_048_576,
    maxOutput: 128_000,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 8, output: 28, cachedInput: 2 },
    source: 'https://docs.bigmodel.cn/cn/guide/start/pricing',
    asOf: COMPILED,
    note:
      'Cache storage is free for a limited time (not modelled). Reasoning is always on. Max output (128,000) from docs.apiyi.com, not confirmed on bigmodel.cn; context 1,048,576 per Baidu AIHC and Sarvam model pages ("1M" on bigmodel.cn).',
  },

  // --------------------------------------------------------------- Kimi ---
  {
    id: 'kimi-k3',
    providers: ['kimi'],
    name: 'Kimi K3',
    contextWindow: 1_048_576,
    maxOutput: 131_072,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 20, output: 100, cachedInput: 2 },
    source: 'https://dev.to/teamorouter/how-to-access-kimi-k3-api-pricing-rate-limits-and-setup-guide-478g',
    asOf: COMPILED,
    note:
      'CNY prices from a third-party guide; the official USD price ($3 / $15 / $0.30 cached, platform.kimi.ai/docs/pricing/chat-k3) matches its USD column. Limits from docs.apiyi.com. Not read on platform.moonshot.cn.',
  },

  // ------------------------------------------------------------ MiniMax ---
  {
    id: 'MiniMax-M2.7',
    providers: ['minimax'],
    name: 'MiniMax M2.7',
    contextWindow: 204_800,
    maxOutput: 131_072,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 2.1, output: 8.4, cachedInput: 0.42, cacheWrite: 2.625 },
    source: 'https://platform.minimaxi.com/docs/guides/pricing-paygo',
    asOf: COMPILED,
    note: 'Context from platform.minimaxi.com/docs/guides/text-generation. Max output is not stated by MiniMax; 131,072 is the M2.x figure given by Vercel AI Gateway, unconfirmed.',
  },
  {
    id: 'MiniMax-M2.7-highspeed',
    providers: ['minimax'],
    name: 'MiniMax M2.7 highspeed',
    contextWindow: 204_800,
    maxOutput: 131_072,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 4.2, output: 16.8, cachedInput: 0.42, cacheWrite: 2.625 },
    source: 'https://platform.minimaxi.com/docs/guides/pricing-paygo',
    asOf: COMPILED,
    note: 'Context from platform.minimaxi.com/docs/guides/text-generation. Max output is not stated by MiniMax; 131,072 is the M2.x figure given by Vercel AI Gateway, unconfirmed.',
  },
  {
    id: 'MiniMax-M2.5',
    providers: ['minimax'],
    name: 'MiniMax M2.5',
    contextWindow: 204_800,
    maxOutput: 131_072,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 2.1, output: 8.4, cachedInput: 0.21, cacheWrite: 2.625 },
    source: 'https://platform.minimaxi.com/docs/guides/pricing-paygo',
    asOf: COMPILED,
    note: 'Context from platform.minimaxi.com/docs/guides/text-generation. Max output is not stated by MiniMax; 131,072 is the M2.x figure given by Vercel AI Gateway, unconfirmed.',
  },

  // ------------------------------------------------------------- Doubao ---
  // Volcengine Ark (preset `doubao`), CNY per million tokens. Ark's own price
  // page (volcengine.com/docs/82379/1544106) was only readable as its opening
  // in the searchable copies, so the numbers below come from LobeHub's
  // model-bank table for Volcengine (a fork's copy at a pinned commit); the
  // upstream lobehub/lobehub copy (commit 18a6dcff) gives the same prices for
  // the Seed 2.0 and 1.6 rows.
  {
    id: 'doubao-seed-2-1-pro-260628',
    providers: ['doubao'],
    name: 'Doubao Seed 2.1 Pro',
    contextWindow: 256_000,
    maxOutput: 128_000,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 6, output: 30, cachedInput: 1.2 },
    source:
      'https://github.com/yxmnshmily/lobehub/blob/1015ea4cc6591be6ba1654454f4e32c62ffc7565/packages/model-bank/src/aiModels/volcengine.ts',
    asOf: COMPILED,
    note:
      'Secondary source: LobeHub model-bank Volcengine table (fork copy), not read on volcengine.com. Flat price (no input-length tiers listed). Cache storage (¥0.017 per million tokens per hour) not modelled. A newer version, doubao-seed-2-1-pro-260915 (reported 1,048,576 context / 262,144 max output), exists but no CNY price for it was found, so it is left out.',
  },
  {
    id: 'doubao-seed-2-1-turbo-260628',
    providers: ['doubao'],
    name: 'Doubao Seed 2.1 Turbo',
    contextWindow: 256_000,
    maxOutput: 128_000,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 3, output: 15, cachedInput: 0.6 },
    source:
      'https://github.com/yxmnshmily/lobehub/blob/1015ea4cc6591be6ba1654454f4e32c62ffc7565/packages/model-bank/src/aiModels/volcengine.ts',
    asOf: COMPILED,
    note:
      'Secondary source: LobeHub model-bank Volcengine table (fork copy), not read on volcengine.com. Flat price. Image/video input per LobeHub and OpenCode; APIYI lists the same model as text-only. Cache storage (¥0.017 per million tokens per hour) not modelled.',
  },
  {
    id: 'doubao-seed-2-0-lite-260428',
    providers: ['doubao'],
    name: 'Doubao Seed 2.0 Lite',
    contextWindow: 256_000,
    maxOutput: 128_000,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 0.6, output: 3.6, cachedInput: 0.12 },
    source:
      'https://github.com/yxmnshmily/lobehub/blob/1015ea4cc6591be6ba1654454f4e32c62ffc7565/packages/model-bank/src/aiModels/volcengine.ts',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 32K tokens (lowest tier); 32K-128K costs ¥0.9 in / ¥5.4 out / ¥0.18 cached, 128K-256K ¥1.8 / ¥10.8 / ¥0.36. Secondary source: LobeHub model-bank Volcengine table (fork copy), not read on volcengine.com. The earlier version doubao-seed-2-0-lite-260215 is listed at the same prices upstream.',
  },
  {
    id: 'doubao-seed-1-6-flash-250828',
    providers: ['doubao'],
    name: 'Doubao Seed 1.6 Flash',
    contextWindow: 256_000,
    maxOutput: 32_000,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 0.15, output: 1.5, cachedInput: 0.03 },
    source:
      'https://github.com/yxmnshmily/lobehub/blob/1015ea4cc6591be6ba1654454f4e32c62ffc7565/packages/model-bank/src/aiModels/volcengine.ts',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 32K tokens (lowest tier); 32K-128K costs ¥0.3 in / ¥3 out, over 128K ¥0.6 / ¥6 (cache hit ¥0.03 flat). Secondary source: LobeHub model-bank Volcengine table (fork copy), not read on volcengine.com; the ≤ 32K row (¥0.15 / ¥1.5) also matches syaoranwe/LLM-Price.',
  },

  // ------------------------------------------------------------ Qianfan ---
  // Baidu Qianfan v2 OpenAI-compatible API (preset `qianfan`), model ids as
  // that API takes them. Baidu's price pages were not in the searchable
  // copies; numbers are from LobeHub's model-bank table for Qianfan ("wenxin"),
  // which cites cloud.baidu.com/doc/qianfan/s/rmh4stp0j, already per million
  // tokens.
  {
    id: 'ernie-5.1',
    providers: ['qianfan'],
    name: 'ERNIE 5.1',
    contextWindow: 131_072,
    maxOutput: 65_536,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 4, output: 18 },
    source:
      'https://github.com/lobehub/lobehub/blob/4852e98b7895f6d79ce7de4ae09ad7e4815482e4/packages/model-bank/src/aiModels/wenxin.ts',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 32K tokens (lowest tier); 32K-128K costs ¥6 in / ¥22 out. Secondary source: LobeHub model-bank Qianfan table, not read on cloud.baidu.com. No cache price listed.',
  },
  {
    id: 'ernie-5.0',
    providers: ['qianfan'],
    name: 'ERNIE 5.0',
    contextWindow: 131_072,
    maxOutput: 65_536,
    input: ['text', 'image', 'video'],
    output: ['text'],
    tools: true,
    reasoning: true,
    price: { currency: 'CNY', input: 6, output: 24 },
    source:
      'https://github.com/lobehub/lobehub/blob/4852e98b7895f6d79ce7de4ae09ad7e4815482e4/packages/model-bank/src/aiModels/wenxin.ts',
    asOf: COMPILED,
    note:
      'Price for prompts ≤ 32K tokens (lowest tier); 32K-128K costs ¥10 in / ¥40 out (same tiers in the desirecore config-center audit of the Qianfan list). Secondary source: LobeHub model-bank Qianfan table, not read on cloud.baidu.com. Natively omni-modal; audio input is not recorded because the source does not list it for the API.',
  },
  {
    id: 'ernie-4.5-turbo-128k',
    providers: ['qianfan'],
    name: 'ERNIE 4.5 Turbo 128K',
    contextWindow: 131_072,
    maxOutput: 12_288,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: false,
    price: { currency: 'CNY', input: 0.8, output: 3.2, cachedInput: 0.2 },
    source:
      'https://github.com/lobehub/lobehub/blob/4852e98b7895f6d79ce7de4ae09ad7e4815482e4/packages/model-bank/src/aiModels/wenxin.ts',
    asOf: COMPILED,
    note:
      'Secondary source: LobeHub model-bank Qianfan table, not read on cloud.baidu.com; input/output (¥0.8 / ¥3.2) also match syaoranwe/LLM-Price (Qianfan, 2025-06-14). Cache-hit price from LobeHub only.',
  },

  // ------------------------------------------------------------ Hunyuan ---
  // Tencent Hunyuan OpenAI-compatible endpoint api.hunyuan.cloud.tencent.com
  // (preset `hunyuan`). Tencent's TokenHub migration guide
  // (cloud.tencent.com/document/product/1823/131382, updated 2026-05-11) says
  // the original Hunyuan platform takes no new purchases and that
  // hunyuan-turbos-latest / hunyuan-t1-latest / hunyuan-lite are not carried
  // over to TokenHub (tokenhub.tencentmaas.com, different ids and prices).
  // These rows price the original endpoint and may describe a retiring
  // service. hunyuan-lite is free and therefore left out.
  {
    id: 'hunyuan-turbos-latest',
    providers: ['hunyuan'],
    name: 'Hunyuan TurboS',
    contextWindow: 44_000,
    maxOutput: 16_000,
    input: ['text'],
    output: ['text'],
    tools: true,
    reasoning: false,
    price: { currency: 'CNY', input: 0.8, output: 2 },
    source:
      'https://github.com/lobehub/lobehub/blob/53659d7defc2d6709fba73cc4e0950beb55fd585/packages/model-bank/src/aiModels/hunyuan.ts',
    asOf: COMPILED,
    note:
      'Limits from LobeHub model-bank (old-endpoint version of its Hunyuan table), not read on cloud.tencent.com. Price confirmed by Tencent\'s own launch note (github.com/Tencent/Hunyuan-TurboS: ¥0.8 in / ¥2 out per million tokens). Original platform closed to new purchases; not offered on TokenHub.',
  },
  {
    id: 'hunyuan-t1-latest',
    providers: ['hunyuan'],
    name: 'Hunyuan T1',
    contextWindow: 96_000,
    maxOutput: 64_000,
    input: ['text'],
    output: ['text'],
    tools: false,
    reasoning: true,
    price: { currency: 'CNY', input: 1, output: 4 },
    source:
      'https://github.com/lobehub/lobehub/blob/53659d7defc2d6709fba73cc4e0950beb55fd585/packages/model-bank/src/aiModels/hunyuan.ts',
    asOf: COMPILED,
    note:
      'Secondary source: LobeHub model-bank (old-endpoint version of its Hunyuan table), not read on cloud.tencent.com; price also in syaoranwe/LLM-Price (¥1 / ¥4). Tool calling not confirmed, so recorded as false. Original platform closed to new purchases; not offered on TokenHub.',
  },
  {
    id: 'hunyuan-2.0-thinking-20251109',
    providers: ['hunyuan'],
    name: 'Tencent HY 2.0 Think',
    contextWindow: 128_000,
    maxOutput: 64_000,
    input: ['text'],
    output: ['text'],
    tools: false,
    reasoning: true,
    price: { currency: 'CNY', input: 1, output: 4 },
    source:
      'https://github.com/lobehub/lobehub/blob/53659d7defc2d6709fba73cc4e0950beb55fd585/packages/model-bank/src/aiModels/hunyuan.ts',
    asOf: COMPILED,
    note:
      'Price on the original Hunyuan endpoint per LobeHub model-bank (old-endpoint version), not read on cloud.tencent.com; a reseller (wcode.net) lists ¥1.1 / ¥4.1, consistent. On TokenHub the same id is priced differently (LobeHub\'s later table: ¥3.975 in / ¥15.9 out for prompts ≤ 32K). Limits (128K input / 64K output) per the desirecore audit of cloud.tencent.com/document/product/1729/104753. Tool calling not confirmed, so recorded as false.',
  },
];

/** Looks up a catalog entry by preset provider id and model id (exact match). */
export function findCatalogEntry(provider: string, id: string): CatalogEntry | undefined {
  return CATALOG.find((e) => e.id === id && e.providers.includes(provider));
}
