/**
 * Zero-config provider presets.
 *
 * Every `baseURL` and every API-key variable below was looked up in the
 * provider's own documentation (or, where the provider documents no variable
 * name, in a well-known integration); the page is recorded in `docs`, and
 * secondary sources are named in the comment above each entry. Names that are
 * this project's own convention rather than documented are marked as such.
 *
 * This module is data only: resolution (env lookup, trailing-slash handling,
 * enabling) lives elsewhere.
 */

import type { Dialect, WireFormat } from '../providers/index.js';

/** A provider enabled with zero config. Most speak OpenAI's chat-completions wire format. */
export interface ProviderPreset {
  /** The wire format; default `openai` (chat completions). */
  readonly type?: WireFormat;
  /**
   * How an OpenAI-compatible provider of this family switches thinking and reads reasoning back
   * (providers/openai-compatible/thinking.ts). A provider configured under another id inherits it
   * when its base URL is on this preset's host. None: request bodies go as the client sent them.
   */
  readonly dialect?: Dialect;
  /** Prefix in model names: `deepseek/deepseek-chat`. Lowercase, no slash. */
  readonly id: string;
  /** Display name. */
  readonly name: string;
  readonly kind: 'cloud' | 'local';
  /** Documented default base URL, including the version path (e.g. https://api.deepseek.com/v1), no trailing slash. */
  readonly baseURL: string;
  /**
   * Other documented hosts of the same service (other regions), so that a provider configured
   * under an id of its own on one of them gets this preset's dialect too.
   */
  readonly otherHosts?: readonly string[];
  /** Env var that overrides baseURL (e.g. DEEPSEEK_BASE_URL) so a proxy or mirror can stand in. */
  readonly baseURLEnv: string;
  /** Env vars holding the API key, first set wins. Cloud presets are enabled when one is set. Local presets may list an optional key var. */
  readonly apiKeyEnv: readonly string[];
  /** Where the base URL and key variable were documented (URL). */
  readonly docs: string;
  /** Well-known chat model ids listed in /v1/models when the preset is enabled. */
  readonly models: readonly string[];
  /** Well-known embedding model ids, if any. */
  readonly embeddingModels?: readonly string[];
  /** The field chat completions take the output cap in; default `max_tokens`. */
  readonly maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** It also speaks OpenAI's Responses API: Responses clients are relayed natively. */
  readonly responsesAPI?: boolean;
  /**
   * The provider's Anthropic-Messages-compatible base URL (what Claude Code's ANTHROPIC_BASE_URL takes,
   * without /v1/messages), when it documents one. Anthropic-format clients are then served natively.
   */
  readonly anthropicBaseURL?: string;
}

export const PROVIDER_PRESETS: readonly ProviderPreset[] = [
  // ---------------------------------------------------------------- cloud ---

  /**
   * Anthropic, natively (Messages API). The official SDKs read ANTHROPIC_API_KEY and
   * ANTHROPIC_BASE_URL (no version path: the client appends /v1/messages).
   */
  {
    id: 'anthropic',
    name: 'Anthropic',
    type: 'anthropic',
    kind: 'cloud',
    baseURL: 'https://api.anthropic.com',
    baseURLEnv: 'ANTHROPIC_BASE_URL',
    apiKeyEnv: ['ANTHROPIC_API_KEY'],
    docs: 'https://docs.claude.com/en/api/overview',
    models: ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-haiku-4-5'],
  },

  /**
   * Google Gemini, natively (Generative Language API v1beta). Google's GenAI SDKs read
   * GEMINI_API_KEY or GOOGLE_API_KEY.
   */
  {
    id: 'gemini',
    name: 'Google Gemini',
    type: 'gemini',
    kind: 'cloud',
    baseURL: 'https://generativelanguage.googleapis.com/v1beta',
    baseURLEnv: 'GEMINI_BASE_URL',
    apiKeyEnv: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    docs: 'https://ai.google.dev/gemini-api/docs/api-key',
    models: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.5-flash-lite'],
  },

  /**
   * OpenAI. The official Node SDK reads OPENAI_API_KEY and defaults `baseURL`
   * to OPENAI_BASE_URL; the default base is https://api.openai.com/v1.
   */
  {
    id: 'openai',
    name: 'OpenAI',
    dialect: 'openai',
    kind: 'cloud',
    baseURL: 'https://api.openai.com/v1',
    // The reasoning models reject `max_tokens`: https://platform.openai.com/docs/api-reference/chat/create
    maxTokensField: 'max_completion_tokens',
    responsesAPI: true,
    baseURLEnv: 'OPENAI_BASE_URL',
    apiKeyEnv: ['OPENAI_API_KEY'],
    docs: 'https://github.com/openai/openai-node#readme',
    models: ['gpt-5', 'gpt-5-mini', 'gpt-4.1', 'gpt-4o', 'gpt-4o-mini'],
    embeddingModels: ['text-embedding-3-small', 'text-embedding-3-large'],
  },

  /**
   * DeepSeek. Docs: base_url https://api.deepseek.com, and "for compatibility
   * with OpenAI you may also use https://api.deepseek.com/v1 (the v1 has
   * nothing to do with the model version)". Examples read DEEPSEEK_API_KEY.
   * The current docs also list deepseek-v4-flash / deepseek-v4-pro and say
   * deepseek-chat / deepseek-reasoner are to be deprecated on 2026-07-24.
   * No embedding API.
   */
  {
    id: 'deepseek',
    name: 'DeepSeek',
    dialect: 'deepseek',
    kind: 'cloud',
    baseURL: 'https://api.deepseek.com/v1',
    baseURLEnv: 'DEEPSEEK_BASE_URL',
    // https://api-docs.deepseek.com/guides/anthropic_api
    anthropicBaseURL: 'https://api.deepseek.com/anthropic',
    apiKeyEnv: ['DEEPSEEK_API_KEY'],
    docs: 'https://api-docs.deepseek.com/',
    models: ['deepseek-chat', 'deepseek-reasoner', 'deepseek-v4-flash', 'deepseek-v4-pro'],
  },

  /**
   * Qwen via Alibaba Cloud Model Studio (百炼 / DashScope) compatible mode,
   * China (Beijing) endpoint. Other documented regions (keys are per region):
   *   Singapore (international): https://dashscope-intl.aliyuncs.com/compatible-mode/v1
   *   US (Virginia):             https://dashscope-us.aliyuncs.com/compatible-mode/v1
   *   China (Hong Kong):         https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1
   * Alibaba now recommends workspace-dedicated domains
   * (https://{WorkspaceId}.{region}.maas.aliyuncs.com/compatible-mode/v1) for
   * production; the dashscope.aliyuncs.com domain remains available.
   * Examples read DASHSCOPE_API_KEY. DASHSCOPE_BASE_URL is this project's
   * naming, not a documented variable.
   */
  {
    id: 'qwen',
    name: 'Qwen (Alibaba Cloud DashScope)',
    dialect: 'qwen',
    kind: 'cloud',
    baseURL: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
    otherHosts: ['dashscope-intl.aliyuncs.com', 'dashscope-us.aliyuncs.com', 'cn-hongkong.dashscope.aliyuncs.com'],
    baseURLEnv: 'DASHSCOPE_BASE_URL',
    // https://help.aliyun.com/zh/model-studio/anthropic-api-messages
    anthropicBaseURL: 'https://dashscope.aliyuncs.com/apps/anthropic',
    apiKeyEnv: ['DASHSCOPE_API_KEY'],
    docs: 'https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope',
    models: ['qwen3-max', 'qwen-max', 'qwen-plus', 'qwen-flash', 'qwen-turbo'],
    // https://www.alibabacloud.com/help/zh/model-studio/embedding-interfaces-compatible-with-openai
    embeddingModels: ['text-embedding-v4', 'text-embedding-v3'],
  },

  /**
   * Zhipu GLM on BigModel (智谱开放平台), China endpoint
   * https://open.bigmodel.cn/api/paas/v4 (docs.bigmodel.cn "HTTP 调用" / "OpenAI 兼容").
   * International counterpart Z.ai: https://api.z.ai/api/paas/v4 (docs.z.ai).
   * Do NOT use the "Coding Plan" endpoint (.../api/coding/paas/v4) here; the
   * docs restrict it to coding tools.
   * Key vars: ZHIPUAI_API_KEY / ZHIPUAI_BASE_URL are the official `zhipuai`
   * Python SDK's variables (pypi.org/project/zhipuai); the docs' OpenAI-SDK
   * page exports ZAI_API_KEY (the newer `zai-sdk` name, also used by Z.ai).
   */
  {
    id: 'glm',
    name: 'Zhipu GLM (BigModel)',
    dialect: 'glm',
    kind: 'cloud',
    baseURL: 'https://open.bigmodel.cn/api/paas/v4',
    otherHosts: ['api.z.ai'],
    baseURLEnv: 'ZHIPUAI_BASE_URL',
    apiKeyEnv: ['ZHIPUAI_API_KEY', 'ZAI_API_KEY'],
    docs: 'https://docs.bigmodel.cn/cn/guide/develop/openai/introduction',
    models: ['glm-5', 'glm-4.6', 'glm-4.5-air', 'glm-4-plus', 'glm-4-flash'],
    embeddingModels: ['embedding-3'],
  },

  /**
   * Moonshot Kimi, China endpoint https://api.moonshot.cn/v1 (API reference
   * uses $MOONSHOT_API_KEY). International endpoint: https://api.moonshot.ai/v1.
   * Model ids from https://platform.kimi.com/docs/models. No embedding API.
   * MOONSHOT_BASE_URL is this project's naming.
   */
  {
    id: 'kimi',
    name: 'Moonshot Kimi',
    dialect: 'kimi',
    kind: 'cloud',
    baseURL: 'https://api.moonshot.cn/v1',
    otherHosts: ['api.moonshot.ai'],
    baseURLEnv: 'MOONSHOT_BASE_URL',
    // Moonshot's Claude Code setup (ANTHROPIC_BASE_URL); https://api.moonshot.ai/anthropic internationally.
    anthropicBaseURL: 'https://api.moonshot.cn/anthropic',
    apiKeyEnv: ['MOONSHOT_API_KEY'],
    docs: 'https://platform.moonshot.cn/api-reference',
    models: ['kimi-k2.5', 'kimi-k2-thinking', 'kimi-k2-turbo-preview', 'moonshot-v1-32k', 'moonshot-v1-128k'],
  },

  /**
   * Doubao via Volcengine Ark (火山方舟), v3 API (OpenAI-compatible), region
   * cn-beijing. The Ark SDK reads ARK_API_KEY.
   * NOTE: Ark `model` values are often inference endpoint ids (`ep-2024...`)
   * created in the console, or versioned model names with a date suffix
   * (e.g. doubao-seed-1-6-251015); the bare family names do not work. The ids
   * below are versioned names seen in Ark docs/integrations and will age.
   * ARK_BASE_URL is a common integration name, not an Ark-documented variable.
   */
  {
    id: 'doubao',
    name: 'Doubao (Volcengine Ark)',
    dialect: 'doubao',
    kind: 'cloud',
    baseURL: 'https://ark.cn-beijing.volces.com/api/v3',
    baseURLEnv: 'ARK_BASE_URL',
    apiKeyEnv: ['ARK_API_KEY'],
    docs: 'https://www.volcengine.com/docs/82379/1263482',
    models: [
      'doubao-seed-1-8-251228',
      'doubao-seed-1-6-251015',
      'doubao-seed-1-6-flash-250828',
      'doubao-1-5-pro-32k-250115',
    ],
    embeddingModels: ['doubao-embedding-large-text-250515', 'doubao-embedding-text-240515'],
  },

  /**
   * MiniMax, China endpoint https://api.minimaxi.com/v1 (note the extra "i").
   * International: https://api.minimax.io/v1. MiniMax's own page configures
   * the OpenAI SDK via OPENAI_BASE_URL / OPENAI_API_KEY; MINIMAX_API_KEY is
   * the name used by integrations (AgentScope, Agno, Docker Agent, AutoGen PR,
   * vercel-minimax-ai-provider). MINIMAX_BASE_URL is this project's naming.
   * MiniMax's embedding model is not offered on the OpenAI-compatible API.
   */
  {
    id: 'minimax',
    name: 'MiniMax',
    dialect: 'minimax',
    kind: 'cloud',
    baseURL: 'https://api.minimaxi.com/v1',
    otherHosts: ['api.minimax.io'],
    baseURLEnv: 'MINIMAX_BASE_URL',
    // https://platform.minimaxi.com/docs/api-reference/text-anthropic-api
    anthropicBaseURL: 'https://api.minimaxi.com/anthropic',
    apiKeyEnv: ['MINIMAX_API_KEY'],
    docs: 'https://platform.minimaxi.com/docs/api-reference/text-openai-api',
    models: ['MiniMax-M2.7', 'MiniMax-M2.7-highspeed', 'MiniMax-M2.5', 'MiniMax-M2.1', 'MiniMax-M2'],
  },

  /**
   * SiliconFlow (硅基流动), China endpoint https://api.siliconflow.cn/v1
   * (docs.siliconflow.cn quickstart). International: https://api.siliconflow.com/v1.
   * The docs name no variable; SILICONFLOW_API_KEY is used by Mastra, CAMEL,
   * pyseekdb and others. SILICONFLOW_BASE_URL is this project's naming.
   */
  {
    id: 'siliconflow',
    name: 'SiliconFlow',
    dialect: 'siliconflow',
    kind: 'cloud',
    baseURL: 'https://api.siliconflow.cn/v1',
    otherHosts: ['api.siliconflow.com'],
    baseURLEnv: 'SILICONFLOW_BASE_URL',
    apiKeyEnv: ['SILICONFLOW_API_KEY'],
    docs: 'https://docs.siliconflow.cn/docs/userguide/quickstart',
    models: [
      'deepseek-ai/DeepSeek-V3',
      'deepseek-ai/DeepSeek-R1',
      'Qwen/Qwen3-235B-A22B',
      'Qwen/Qwen3-32B',
      'Qwen/Qwen3-8B',
    ],
    // https://docs.siliconflow.cn/api-reference/embeddings/create-embeddings
    embeddingModels: ['BAAI/bge-m3', 'BAAI/bge-large-zh-v1.5'],
  },

  /**
   * Baidu Qianfan (千帆) v2 OpenAI-compatible inference API. Keys look like
   * `bce-v3/ALTAK-...`; an optional `appid` header selects an app. The docs
   * name no variable; QIANFAN_API_KEY is the name used by OpenClaw and other
   * integrations (the legacy qianfan SDK's QIANFAN_ACCESS_KEY/SECRET_KEY are
   * AK/SK signing credentials, not bearer keys). QIANFAN_BASE_URL is this
   * project's naming.
   */
  {
    id: 'qianfan',
    name: 'Baidu Qianfan',
    kind: 'cloud',
    baseURL: 'https://qianfan.baidubce.com/v2',
    baseURLEnv: 'QIANFAN_BASE_URL',
    // https://cloud.baidu.com/doc/qianfan-docs/s/6mh3e6gjp
    anthropicBaseURL: 'https://qianfan.baidubce.com/anthropic',
    apiKeyEnv: ['QIANFAN_API_KEY'],
    docs: 'https://cloud.baidu.com/doc/qianfan/s/Hmh4suq26',
    models: ['ernie-4.5-turbo-128k', 'ernie-x1-turbo-32k', 'ernie-4.0-turbo-8k', 'ernie-3.5-8k', 'deepseek-v3'],
    // POST /v2/embeddings: https://cloud.baidu.com/doc/qianfan-api/s/Fm7u3ropn
    embeddingModels: ['embedding-v1', 'bge-large-zh', 'tao-8k'],
  },

  /**
   * Tencent Hunyuan OpenAI-compatible endpoint; examples read HUNYUAN_API_KEY.
   * (The key is the `sk-` API key from the console, not SecretId/SecretKey.)
   * HUNYUAN_BASE_URL is this project's naming.
   */
  {
    id: 'hunyuan',
    name: 'Tencent Hunyuan',
    kind: 'cloud',
    baseURL: 'https://api.hunyuan.cloud.tencent.com/v1',
    baseURLEnv: 'HUNYUAN_BASE_URL',
    // https://cloud.tencent.com/document/product/1729/127293
    anthropicBaseURL: 'https://api.hunyuan.cloud.tencent.com/anthropic',
    apiKeyEnv: ['HUNYUAN_API_KEY'],
    docs: 'https://cloud.tencent.com/document/product/1729/111007',
    models: [
      'hunyuan-turbos-latest',
      'hunyuan-t1-latest',
      'hunyuan-lite',
      'hunyuan-2.0-instruct-20251111',
      'hunyuan-2.0-thinking-20251109',
    ],
    embeddingModels: ['hunyuan-embedding'],
  },

  /**
   * iFlytek Spark (讯飞星火) HTTP endpoint; the docs give the OpenAI-SDK
   * base_url as https://spark-api-open.xf-yun.com/v1/ and authenticate with
   * `Authorization: Bearer <APIPassword>` (APIPassword from the console).
   * The docs name no variable; SPARK_API_PASSWORD is the name iFlytek's own
   * Astron Agent (github.com/iflytek/astron-agent) uses. SPARK_BASE_URL is this
   * project's naming. Model names per docs: lite, generalv3 (Pro), pro-128k,
   * generalv3.5 (Max), max-32k, 4.0Ultra. No embeddings on this endpoint.
   */
  {
    id: 'spark',
    name: 'iFlytek Spark',
    kind: 'cloud',
    baseURL: 'https://spark-api-open.xf-yun.com/v1',
    baseURLEnv: 'SPARK_BASE_URL',
    apiKeyEnv: ['SPARK_API_PASSWORD'],
    docs: 'https://www.xfyun.cn/doc/spark/HTTP%E8%B0%83%E7%94%A8%E6%96%87%E6%A1%A3.html',
    models: ['4.0Ultra', 'generalv3.5', 'max-32k', 'generalv3', 'lite'],
  },

  /**
   * OpenRouter. Docs: baseURL https://openrouter.ai/api/v1, key from
   * OPENROUTER_API_KEY. OPENROUTER_BASE_URL is this project's naming.
   * `openrouter/auto` is OpenRouter's auto-router.
   */
  {
    id: 'openrouter',
    name: 'OpenRouter',
    dialect: 'openrouter',
    kind: 'cloud',
    baseURL: 'https://openrouter.ai/api/v1',
    baseURLEnv: 'OPENROUTER_BASE_URL',
    apiKeyEnv: ['OPENROUTER_API_KEY'],
    docs: 'https://openrouter.ai/docs/quickstart',
    models: [
      'openrouter/auto',
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
      'anthropic/claude-sonnet-4',
      'google/gemini-2.5-pro',
    ],
    embeddingModels: ['openai/text-embedding-3-small'],
  },

  // ---------------------------------------------------------------- local ---
  // Local presets list no models: they are discovered from the server's
  // GET /v1/models at runtime.

  /**
   * Ollama, default port 11434, OpenAI-compatible under /v1. The docs' OpenAI
   * example passes api_key='ollama' ("required but ignored"); OLLAMA_API_KEY
   * is Ollama's documented variable for its cloud API (https://ollama.com/v1)
   * and is ignored by a local server. (Ollama's own OLLAMA_HOST is host:port
   * without /v1, so it is not reused here.)
   */
  {
    id: 'ollama',
    name: 'Ollama',
    dialect: 'ollama',
    kind: 'local',
    baseURL: 'http://127.0.0.1:11434/v1',
    baseURLEnv: 'OLLAMA_BASE_URL',
    apiKeyEnv: ['OLLAMA_API_KEY'],
    docs: 'https://docs.ollama.com/api/openai-compatibility',
    models: [],
  },

  /**
   * vLLM `vllm serve`, default port 8000, OpenAI-compatible under /v1. The
   * server requires a key only when started with --api-key or VLLM_API_KEY
   * (vllm/envs.py), so the same variable serves the client.
   */
  {
    id: 'vllm',
    name: 'vLLM',
    dialect: 'vllm',
    kind: 'local',
    baseURL: 'http://127.0.0.1:8000/v1',
    baseURLEnv: 'VLLM_BASE_URL',
    apiKeyEnv: ['VLLM_API_KEY'],
    docs: 'https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html',
    models: [],
  },

  /**
   * LM Studio local server, default port 1234, OpenAI-compatible under /v1.
   * Auth is off by default; with "Require Authentication" on, LM Studio API
   * tokens are read by its SDKs from LM_API_TOKEN
   * (https://lmstudio.ai/docs/developer/core/authentication).
   */
  {
    id: 'lmstudio',
    name: 'LM Studio',
    kind: 'local',
    baseURL: 'http://127.0.0.1:1234/v1',
    baseURLEnv: 'LMSTUDIO_BASE_URL',
    apiKeyEnv: ['LM_API_TOKEN'],
    docs: 'https://lmstudio.ai/docs/developer/openai-compat',
    models: [],
  },

  /**
   * llama.cpp `llama-server`, default 127.0.0.1:8080, OpenAI-compatible under
   * /v1. `--api-key KEY ... (env: LLAMA_API_KEY)` per the server's --help.
   */
  {
    id: 'llamacpp',
    name: 'llama.cpp server',
    kind: 'local',
    baseURL: 'http://127.0.0.1:8080/v1',
    baseURLEnv: 'LLAMACPP_BASE_URL',
    apiKeyEnv: ['LLAMA_API_KEY'],
    docs: 'https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md',
    models: [],
  },
];
