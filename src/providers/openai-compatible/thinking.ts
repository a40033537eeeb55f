/**
 * Thinking switches of the OpenAI-compatible dialects (see `Dialect` in ../index.ts).
 *
 * The hub carries one canonical request for thinking (`ChatRequest.reasoning`). Every
 * OpenAI-compatible provider family turns thinking on and off with a field of its own, and some of
 * them reject or silently ignore the generic `reasoning_effort`. `applyThinking` rewrites a
 * chat-completions body for one dialect. `reasoningRequired` and `reasoningField` tell the
 * request builder whether an assistant turn that carries tool calls must send its reasoning back,
 * and which field to use. Each takes the provider's dialect (which follows the provider's kind,
 * not its id: a `my-deepseek` on DeepSeek's host speaks `deepseek`); an unknown or absent dialect
 * gets the body as sent.
 *
 * Every behaviour below was looked up in the provider's documentation (or, where noted, its source
 * code). The URL is next to each case. Where a behaviour could not be confirmed, the body is left
 * as the client sent it.
 *
 * Pure: no I/O, never mutates its input.
 *
 * ## The request
 *   - `undefined`: the client said nothing about thinking. The body is returned as is, on every
 *     provider.
 *   - `{ disabled: true }`: "do not think" (Anthropic `thinking: {type: 'disabled'}`, OpenAI /
 *     Responses `reasoning_effort: 'none'`). `effort: 'none'` means the same.
 *   - anything else: "think", optionally with `effort` (minimal | low | medium | high; `xhigh` and
 *     `max` are read as high, or passed on where the provider documents them) and/or
 *     `budgetTokens`.
 *
 * ## Effort ↔ budget (the hub's own convention, not any provider's)
 *   effort → budget: minimal 512, low 1024, medium 8192, high 24576, then clamped to the
 *   provider's documented range (SiliconFlow 128..32768; DashScope documents no range, so only ≥ 1).
 *   budget → effort (for providers that take only a level): ≤ 512 minimal, ≤ 1024 low,
 *   ≤ 8192 medium, otherwise high.
 *   An explicit `budgetTokens` wins over the budget derived from `effort`.
 */

import type { Dialect } from '../index.js';

export interface ThinkingRequest {
  readonly effort?: string;
  readonly budgetTokens?: number;
  readonly disabled?: boolean;
}

export type Effort = 'minimal' | 'low' | 'medium' | 'high';

/** The hub's effort → thinking-budget table (see the module comment). */
export const EFFORT_BUDGET: Readonly<Record<Effort, number>> = { minimal: 512, low: 1024, medium: 8192, high: 24576 };

/** The inverse of EFFORT_BUDGET, for providers that take only a level. */
export function budgetToEffort(budget: number): Effort {
  if (budget <= EFFORT_BUDGET.minimal) return 'minimal';
  if (budget <= EFFORT_BUDGET.low) return 'low';
  if (budget <= EFFORT_BUDGET.medium) return 'medium';
  return 'high';
}

type Body = Record<string, unknown>;

interface On {
  readonly on: true;
  /** Canonical level: from `effort`, else from the budget. */
  readonly effort?: Effort;
  /** The effort string exactly as requested (lowercased), for providers that accept more levels. */
  readonly raw?: string;
  /** Explicit `budgetTokens`, else the budget the effort maps to. */
  readonly budget?: number;
  /** Whether `budgetTokens` was given explicitly. */
  readonly explicitBudget: boolean;
}
type Intent = On | { readonly on: false };

const CANONICAL: readonly string[] = ['minimal', 'low', 'medium', 'high'];

function intentOf(r: ThinkingRequest): Intent {
  const raw = typeof r.effort === 'string' ? r.effort.trim().toLowerCase() : undefined;
  if (r.disabled === true || raw === 'none') return { on: false };
  const budgetTokens = typeof r.budgetTokens === 'number' && Number.isFinite(r.budgetTokens) && r.budgetTokens > 0 ? Math.round(r.budgetTokens) : undefined;
  let effort: Effort | undefined;
  if (raw !== undefined && CANONICAL.includes(raw)) effort = raw as Effort;
  else if (raw === 'xhigh' || raw === 'max') effort = 'high';
  if (effort === undefined && budgetTokens !== undefined) effort = budgetToEffort(budgetTokens);
  const budget = budgetTokens ?? (effort !== undefined ? EFFORT_BUDGET[effort] : undefined);
  return {
    on: true,
    ...(effort !== undefined && { effort }),
    ...(raw !== undefined && raw !== '' && { raw }),
    ...(budget !== undefined && { budget }),
    explicitBudget: budgetTokens !== undefined,
  };
}

function omit(body: Body, ...keys: string[]): Body {
  const out: Body = { ...body };
  for (const k of keys) delete out[k];
  return out;
}

function asObject(v: unknown): Body {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Body) } : {};
}

/** Sets `thinking.type`, keeping any other keys the client put in `thinking` (e.g. Kimi's `keep`). */
function withThinkingType(body: Body, type: 'enabled' | 'disabled'): Body {
  return { ...body, thinking: { ...asObject(body.thinking), type } };
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}

// ------------------------------------------------------------------ qwen ---

/**
 * Alibaba Cloud Model Studio (DashScope) compatible mode.
 * https://www.alibabacloud.com/help/en/model-studio/deep-thinking
 * https://docs.qwencloud.com/developer-guides/text-generation/thinking
 *   - Hybrid models take `enable_thinking: true|false` (a top-level body field; the OpenAI SDK sends
 *     it through `extra_body`). Qwen3.5/3.6 default to on, Qwen3 / Qwen3-VL / Qwen3-Omni and the
 *     commercial qwen-plus / qwen-flash / qwen-turbo default to off.
 *   - Thinking-only models (QwQ, the `-thinking` variants) always think and take no
 *     `enable_thinking`.
 *   - `thinking_budget` caps thinking tokens. "All thinking-capable models from Qwen3 onward support
 *     this parameter" (Chat Completions only). No numeric range is documented, so only ≥ 1.
 *   - Streaming: every documented example sets `stream: true`. The open-source Qwen3 models answer
 *     a non-streaming request that has thinking on with 400 "parameter.enable_thinking must be set
 *     to false for non-streaming calls" (reported in langchain4j/langchain4j#3974,
 *     alibaba/spring-ai-alibaba#867, QuantumNous/new-api#1109). This function does not touch
 *     `stream`: the canonical path always streams, and a relayed non-streaming body must stay so.
 *   - `reasoning_effort` is not a documented Chat Completions parameter here (only the Responses API
 *     takes `reasoning.effort`), so it is removed for the models handled below.
 * Other models (qwen-max, qwen3-max, the coders, `-instruct` models, DeepSeek or Kimi hosted on
 * DashScope) are left as sent, because their thinking parameter could not be confirmed.
 */
const QWEN_HYBRID =
  /^(qwen-(plus|flash|turbo)([-.][\w.-]*)?|qwen3-max-preview|qwen3\.\d+-[\w.-]+|qwen3-vl-(plus|flash)[\w.-]*|qwen3-omni-flash[\w.-]*|qwen3-\d+(\.\d+)?b(-a\d+(\.\d+)?b)?)$/;
const QWEN3_THINKING_ONLY = /^qwen3[\w.-]*-thinking([-.][\w.-]*)?$/;

function qwen(model: string, body: Body, intent: Intent): Body {
  const m = model.toLowerCase();
  const thinkingOnly = QWEN3_THINKING_ONLY.test(m);
  const hybrid = !thinkingOnly && QWEN_HYBRID.test(m) && !/-instruct(-|$)/.test(m);
  if (!hybrid && !thinkingOnly) return body;
  const out = omit(body, 'reasoning_effort');
  if (!intent.on) {
    // Thinking-only models cannot be switched off.
    if (thinkingOnly) return out;
    delete out.thinking_budget;
    out.enable_thinking = false;
    return out;
  }
  if (hybrid) out.enable_thinking = true;
  if (intent.budget !== undefined) out.thinking_budget = Math.max(1, intent.budget);
  return out;
}

// -------------------------------------------------------------- deepseek ---

/**
 * DeepSeek. https://api-docs.deepseek.com/guides/thinking_mode
 *   - OpenAI format: `thinking: {type: 'enabled'|'disabled'}` turns thinking mode on and off (it
 *     defaults to enabled on the current models), and `reasoning_effort` sets its depth. The docs'
 *     mapping: minimal→low, low→low, medium→high, high→high, xhigh→max, max→max. The canonical
 *     `minimal` is sent as `low`.
 *   - `deepseek-reasoner` is the older way in: the model id itself is thinking mode. It is not sent
 *     a `thinking` field, and the docs give no way to turn it off, so "do not think" only drops
 *     `reasoning_effort` there.
 */
const DEEPSEEK_EFFORTS: readonly string[] = ['low', 'medium', 'high', 'xhigh', 'max'];

function deepseek(model: string, body: Body, intent: Intent): Body {
  const reasoner = /^deepseek-reasoner$/i.test(model);
  const out = omit(body, 'reasoning_effort');
  if (!intent.on) return reasoner ? out : withThinkingType(out, 'disabled');
  const next = reasoner ? out : withThinkingType(out, 'enabled');
  const effort = intent.raw !== undefined && DEEPSEEK_EFFORTS.includes(intent.raw) ? intent.raw : intent.effort === 'minimal' ? 'low' : intent.effort;
  if (effort !== undefined) next.reasoning_effort = effort;
  return next;
}

// ------------------------------------------------------------------ kimi ---

/**
 * Moonshot Kimi.
 * https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model
 * https://platform.kimi.ai/docs/api/models-overview
 *   - kimi-k2.5 / kimi-k2.6: `thinking: {type: 'enabled'|'disabled'}`, enabled by default. Other
 *     keys in `thinking` (k2.6's `keep`) are kept.
 *   - kimi-k2-thinking (and -turbo): a dedicated thinking model, thinking "forcibly enabled", so it
 *     is sent nothing. kimi-k2.7-code accepts only `enabled`, and `disabled` is an error, so it is
 *     sent nothing either.
 *   - moonshot-v1-*, kimi-k2-turbo-preview, kimi-k2-0905-preview: no thinking. kimi-k3: its effort
 *     field is documented only by third parties. Both are left as sent.
 *   - `reasoning_effort` is left alone: Moonshot is reported to ignore unknown fields, and Kimi's
 *     own CLI sends it.
 */
function kimi(model: string, body: Body, intent: Intent): Body {
  const m = model.toLowerCase();
  if (!/^kimi-k2\.[56]([-.]|$)/.test(m)) return body;
  return withThinkingType(body, intent.on ? 'enabled' : 'disabled');
}

// ------------------------------------------------------------------- glm ---

/**
 * Zhipu GLM (BigModel / Z.ai).
 * https://docs.bigmodel.cn/cn/guide/capabilities/thinking-mode
 * https://docs.z.ai/guides/capabilities/thinking-mode
 * https://docs.z.ai/api-reference/llm/chat-completion ("Only supported by GLM-4.5 series and higher")
 *   - `thinking: {type: 'enabled'|'disabled'}` on GLM-4.5 and later. GLM-4.7 / 5 / 5.1 think by
 *     default, and GLM-4.6 is hybrid (auto).
 *   - `reasoning_effort` (max | xhigh | high | medium | low | minimal | none) exists from GLM-5.2
 *     on. That is documented by gateways that proxy GLM (docs.cloudsway.net MaaS_GLM,
 *     docs.anyfast.ai glm-5.2, the zai-rs crate) and was not found on bigmodel.cn itself. For older
 *     models it is removed.
 *   - glm-4-plus, glm-4-flash, etc. have no thinking and are left as sent.
 */
const GLM_THINKING = /^glm-(4\.[5-9]|[5-9])/i;
const GLM_EFFORT = /^glm-(5\.[2-9]|[6-9])/i;
const GLM_EFFORTS: readonly string[] = ['max', 'xhigh', 'high', 'medium', 'low', 'minimal'];

function glm(model: string, body: Body, intent: Intent): Body {
  if (!GLM_THINKING.test(model)) return body;
  const out = omit(body, 'reasoning_effort');
  if (!intent.on) return withThinkingType(out, 'disabled');
  const next = withThinkingType(out, 'enabled');
  if (GLM_EFFORT.test(model)) {
    const effort = intent.raw !== undefined && GLM_EFFORTS.includes(intent.raw) ? intent.raw : intent.effort;
    if (effort !== undefined) next.reasoning_effort = effort;
  }
  return next;
}

// ---------------------------------------------------------------- doubao ---

/**
 * Doubao on Volcengine Ark: `thinking: {type: 'enabled'|'disabled'|'auto'}`.
 * Ark's own page could not be read here. The field and its values are as documented by gateways
 * that pass Ark's parameters through (https://www.ucloud-global.com/en/docs/modelverse/modelverse/text_api/doubao,
 * https://doc.dmxapi.com/thinking-doubao.html) and by Volcengine's data-lake operator for
 * Doubao-seed-1.8 (https://www.volcengine.com/docs/6492/2192000).
 *   - Applied to doubao-seed-1.6 (incl. -flash / -lite / -vision), doubao-seed-1.8 and
 *     doubao-1.5-thinking-vision-pro, the models those pages name.
 *   - Endpoint ids (`ep-…`) and other models are left as sent, because the model behind them is
 *     unknown.
 *   - `reasoning_effort` is not part of that documentation and is removed for the models handled.
 */
const DOUBAO_THINKING = /^doubao-(seed-1[-.][68]([-.]|$)|1[-.]5-thinking-vision-pro)/i;

function doubao(model: string, body: Body, intent: Intent): Body {
  if (!DOUBAO_THINKING.test(model)) return body;
  return withThinkingType(omit(body, 'reasoning_effort'), intent.on ? 'enabled' : 'disabled');
}

// --------------------------------------------------------------- minimax ---

/**
 * MiniMax M2 family (OpenAI-compatible API).
 * https://platform.minimax.io/docs/api-reference/text-openai-api
 * https://minimax.io/news/why-is-interleaved-thinking-important-for-m2
 *   - The M2 models always think: MiniMax documents no way to turn it off. Tencent TokenHub lists
 *     MiniMax-M2.5/M2.7 as "enabled, cannot be disabled". So "do not think" only drops
 *     `reasoning_effort`.
 *   - `reasoning_split: true` moves the thinking out of `content` (where it otherwise arrives inside
 *     `<think>…</think>`) into a separate `reasoning_details` array
 *     (`[{type: 'reasoning.text', text}]`). It is set when thinking is asked for.
 *     NOTE: the response parser must then read `delta.reasoning_details[].text`.
 *   - `reasoning_effort` is not a documented MiniMax parameter and is removed.
 */
const MINIMAX_M = /^minimax-m\d/i;

function minimax(model: string, body: Body, intent: Intent): Body {
  if (!MINIMAX_M.test(model)) return body;
  const out = omit(body, 'reasoning_effort');
  if (intent.on) out.reasoning_split = true;
  return out;
}

// ----------------------------------------------------------- siliconflow ---

/**
 * SiliconFlow. https://docs.siliconflow.cn/cn/api-reference/chat-completions/chat-completions
 *   - `enable_thinking` "switches between thinking and non-thinking modes" for the models listed
 *     there: Qwen3-8B/14B/32B/30B-A3B/235B-A22B, Qwen3.5-*, GLM-4.5V/4.6/4.7/5, DeepSeek-V3.1(-Terminus),
 *     DeepSeek-V3.2, Hunyuan-A13B-Instruct (with or without the `Pro/` prefix).
 *   - `thinking_budget`, 128 ≤ x ≤ 32768 (default 4096), is the "maximum number of tokens for
 *     chain-of-thought output". It is sent with thinking on, clamped to that range.
 *   - `reasoning_effort` "only applies to deepseek-ai/DeepSeek-V4-Flash". It is removed for the
 *     models above.
 *   - Thinking-only and other models are left as sent.
 */
const SILICONFLOW_TOGGLE =
  /^(pro\/)?(qwen\/qwen3-(8b|14b|32b|30b-a3b|235b-a22b)|qwen\/qwen3\.5-[\w.-]+|zai-org\/glm-(4\.5v|4\.6|4\.7|5)|deepseek-ai\/deepseek-v3\.1(-terminus)?|deepseek-ai\/deepseek-v3\.2|tencent\/hunyuan-a13b-instruct)$/i;

function siliconflow(model: string, body: Body, intent: Intent): Body {
  if (!SILICONFLOW_TOGGLE.test(model)) return body;
  const out = omit(body, 'reasoning_effort');
  if (!intent.on) {
    delete out.thinking_budget;
    out.enable_thinking = false;
    return out;
  }
  out.enable_thinking = true;
  if (intent.budget !== undefined) out.thinking_budget = clamp(intent.budget, 128, 32768);
  return out;
}

// ------------------------------------------------------------ openrouter ---

/**
 * OpenRouter. https://openrouter.ai/docs/use-cases/reasoning-tokens
 *   - `reasoning: { effort: 'xhigh'|'high'|'medium'|'low'|'minimal'|'none' | max_tokens: n,
 *     exclude?, enabled? }`. Use effort or max_tokens, not both. `effort: 'none'` "disables
 *     reasoning entirely", and `enabled: true` turns it on at the default (medium).
 *   - The client's `exclude` is kept. The top-level `reasoning_effort` is removed so that it cannot
 *     contradict the object.
 *   - An explicit budget wins (→ `max_tokens`). Otherwise the effort is used, or `enabled: true`
 *     when neither is given.
 */
const OPENROUTER_EFFORTS: readonly string[] = ['xhigh', 'high', 'medium', 'low', 'minimal'];

function openrouter(_model: string, body: Body, intent: Intent): Body {
  const out = omit(body, 'reasoning_effort');
  const r = asObject(body.reasoning);
  delete r.effort;
  delete r.max_tokens;
  delete r.enabled;
  if (!intent.on) r.effort = 'none';
  else if (intent.explicitBudget && intent.budget !== undefined) r.max_tokens = intent.budget;
  else if (intent.raw !== undefined && OPENROUTER_EFFORTS.includes(intent.raw)) r.effort = intent.raw;
  else if (intent.effort !== undefined) r.effort = intent.effort;
  else r.enabled = true;
  out.reasoning = r;
  return out;
}

// ---------------------------------------------------------------- openai ---

/**
 * OpenAI Chat Completions `reasoning_effort`. Only reasoning models accept it.
 * https://platform.openai.com/docs/api-reference/chat/create
 * https://platform.openai.com/docs/guides/reasoning
 * Levels per family, as documented and as measured in https://qiita.com/hanaya/items/51720cb429d543874abe:
 *   - o1 / o3 / o3-mini / o4-mini (and dated snapshots): low | medium | high. o1-mini and o1-preview
 *     take no reasoning_effort.
 *   - gpt-5 / gpt-5-mini / gpt-5-nano: minimal | low | medium | high.
 *   - gpt-5.1 and later: none | low | medium | high. The default is `none`, so "think" with no level
 *     sends `medium`.
 *   - *-codex: low | medium | high.
 *   - *-chat-latest has no effort control (gpt-5-chat) or a fixed one (gpt-5.1-chat), so the field
 *     is removed. gpt-4o, gpt-4.1 and other non-reasoning models reject it, so it is removed there
 *     too.
 *   - *-pro models (high only, Responses API) are left as sent.
 * The closest level is sent where the requested one does not exist (minimal → low). "Do not think"
 * sends `none` where it exists, otherwise the lowest level (`minimal`, else `low`): o-series and
 * codex models cannot stop reasoning.
 */
function openaiLevels(model: string): readonly string[] | 'none' | 'untouched' {
  const m = model.toLowerCase();
  if (/-pro([-.]|$)/.test(m)) return 'untouched';
  if (/chat-latest/.test(m)) return 'none';
  if (/^o1-(mini|preview)/.test(m)) return 'none';
  if (/codex/.test(m)) return ['low', 'medium', 'high'];
  if (/^gpt-5\.\d/.test(m)) return ['none', 'low', 'medium', 'high'];
  if (/^gpt-5([-.]|$)/.test(m)) return ['minimal', 'low', 'medium', 'high'];
  if (/^o\d/.test(m)) return ['low', 'medium', 'high'];
  return 'none';
}

function nearest(effort: Effort, levels: readonly string[]): string {
  if (levels.includes(effort)) return effort;
  return effort === 'minimal' ? (levels.includes('low') ? 'low' : levels[0]!) : levels[levels.length - 1]!;
}

function openai(model: string, body: Body, intent: Intent): Body {
  const levels = openaiLevels(model);
  if (levels === 'untouched') return body;
  const out = omit(body, 'reasoning_effort');
  if (levels === 'none') return out;
  if (!intent.on) {
    out.reasoning_effort = levels.includes('none') ? 'none' : levels.includes('minimal') ? 'minimal' : 'low';
    return out;
  }
  if (intent.effort !== undefined) out.reasoning_effort = nearest(intent.effort, levels);
  else if (levels.includes('none')) out.reasoning_effort = 'medium';
  else if (typeof body.reasoning_effort === 'string' && levels.includes(body.reasoning_effort)) out.reasoning_effort = body.reasoning_effort;
  return out;
}

// ---------------------------------------------------------------- ollama ---

/**
 * Ollama's OpenAI-compatible `/v1/chat/completions`.
 * https://docs.ollama.com/api/openai-compatibility
 * https://github.com/ollama/ollama/blob/main/openai/openai.go (FromChatRequest)
 *   - `reasoning_effort` or `reasoning: {effort}` with "high" | "medium" | "low" | "none". "none"
 *     sets think=false. Any other value is rejected ("invalid reasoning value"), and
 *     `reasoning.effort` wins over `reasoning_effort`. The native `think` option is not read on this
 *     endpoint.
 *   - So: `reasoning_effort` is always written with an allowed value and any `reasoning` object is
 *     removed. minimal → low, and "think" with no level → medium.
 *   - Asking a model that cannot think to think is an Ollama error. That is the client's request,
 *     and it is passed on.
 */
function ollama(_model: string, body: Body, intent: Intent): Body {
  const out = omit(body, 'reasoning');
  if (!intent.on) out.reasoning_effort = 'none';
  else out.reasoning_effort = intent.effort === undefined ? 'medium' : intent.effort === 'minimal' ? 'low' : intent.effort;
  return out;
}

// ------------------------------------------------------------------ vllm ---

/**
 * vLLM. https://docs.vllm.ai/en/stable/features/reasoning_outputs/
 *   - Thinking is switched by the chat template: Qwen3 reads `chat_template_kwargs.enable_thinking`
 *     (on by default), while DeepSeek-V3.1 and IBM Granite read `chat_template_kwargs.thinking` (off
 *     by default). Both are set, and the client's other template kwargs are kept. A template ignores
 *     a kwarg it does not use.
 *   - `reasoning_effort` is validated as "low" | "medium" | "high"
 *     (https://github.com/vllm-project/vllm/blob/main/vllm/entrypoints/openai/protocol.py), so
 *     minimal → low. It is removed when thinking is off, and dropped when it holds a value vLLM
 *     would reject.
 */
const VLLM_EFFORTS: readonly string[] = ['low', 'medium', 'high'];

function vllm(_model: string, body: Body, intent: Intent): Body {
  const out = omit(body, 'reasoning_effort');
  out.chat_template_kwargs = { ...asObject(body.chat_template_kwargs), enable_thinking: intent.on, thinking: intent.on };
  if (!intent.on) return out;
  if (intent.effort !== undefined) out.reasoning_effort = intent.effort === 'minimal' ? 'low' : intent.effort;
  else if (typeof body.reasoning_effort === 'string' && VLLM_EFFORTS.includes(body.reasoning_effort)) out.reasoning_effort = body.reasoning_effort;
  return out;
}

// ----------------------------------------------------------------- table ---

type Handler = (model: string, body: Body, intent: Intent) => Body;

const HANDLERS: Readonly<Record<Dialect, Handler>> = {
  qwen,
  glm,
  doubao,
  deepseek,
  kimi,
  minimax,
  siliconflow,
  openrouter,
  openai,
  ollama,
  vllm,
};

/**
 * Returns `body` with `dialect`'s own thinking switch set from `reasoning`, and with the generic
 * fields that dialect does not take removed. `reasoning === undefined`, an unknown or absent
 * dialect, or a model whose switch could not be confirmed gives the body back as sent. Never
 * mutates `body`.
 */
export function applyThinking(
  dialect: string | undefined,
  upstreamModel: string,
  body: Record<string, unknown>,
  reasoning: ThinkingRequest | undefined,
): Record<string, unknown> {
  if (reasoning === undefined || dialect === undefined) return body;
  const handler = Object.hasOwn(HANDLERS, dialect) ? HANDLERS[dialect as Dialect] : undefined;
  if (!handler) return body;
  return handler(upstreamModel, body, intentOf(reasoning));
}

// -------------------------------------------------- reasoning round trip ---

/**
 * Whether the dialect requires an assistant turn that carries tool calls to send its reasoning
 * back on the next request.
 *   - deepseek: "if the model performed a tool call, the intermediate assistant's reasoning_content
 *     … must be passed back to the API in all subsequent requests", otherwise 400
 *     (https://api-docs.deepseek.com/guides/thinking_mode). In turns without tool calls it "will be
 *     ignored", so sending it is always safe. True for every DeepSeek model.
 *   - kimi: thinking models answer 400 "thinking is enabled but reasoning_content is missing in
 *     assistant tool call message at index N" (reported in anomalyco/opencode#16318,
 *     continuedev/continue#11711, mastra-ai/mastra#12592). The docs say to keep reasoning_content in
 *     context (https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model). True for
 *     kimi-k2-thinking*, kimi-k2.x and kimi-k3*.
 *   - glm: "when using interleaved thinking with tools, thinking blocks should be explicitly
 *     preserved and returned together with the tool results"
 *     (https://docs.z.ai/guides/capabilities/thinking-mode). True for GLM-4.5 and later.
 *   - minimax: "the complete model response … must be appended to the conversation history", and
 *     reasoning_details "must also be preserved completely"
 *     (https://platform.minimax.io/docs/api-reference/text-openai-api). True for the M2 family and
 *     later.
 *   - openrouter: it depends on the model behind it. `deepseek/…`, `moonshotai/…`, `z-ai/…` and
 *     `minimax/…` follow the rules above, because their upstreams enforce them through OpenRouter.
 *     OpenRouter accepts `reasoning` (alias `reasoning_content`) on assistant messages
 *     (https://openrouter.ai/docs/use-cases/reasoning-tokens#preserving-reasoning).
 *   - Everything else: false. Qwen, Doubao, SiliconFlow, vLLM and Ollama document no such
 *     requirement, OpenAI Chat Completions has no reasoning round trip, and no requirement is
 *     assumed for a provider with no known dialect.
 */
export function reasoningRequired(dialect: string | undefined, upstreamModel: string): boolean {
  const m = upstreamModel.toLowerCase();
  switch (dialect) {
    case 'deepseek':
      return true;
    case 'kimi':
      return /^kimi-k2(-thinking|\.\d)|^kimi-k3/.test(m);
    case 'glm':
      return GLM_THINKING.test(m);
    case 'minimax':
      return MINIMAX_M.test(m);
    case 'openrouter': {
      const slash = m.indexOf('/');
      if (slash < 0) return false;
      const vendor = m.slice(0, slash);
      const rest = m.slice(slash + 1).replace(/:[\w-]+$/, '');
      if (vendor === 'deepseek') return true;
      if (vendor === 'moonshotai') return reasoningRequired('kimi', rest);
      if (vendor === 'z-ai') return reasoningRequired('glm', rest);
      if (vendor === 'minimax') return reasoningRequired('minimax', rest);
      return false;
    }
    default:
      return false;
  }
}

/**
 * Which field carries an assistant message's reasoning when it is sent back.
 *   - openai: none. Chat Completions has no such input field, so reasoning should not be sent.
 *   - openrouter: `reasoning` (plain text; `reasoning_content` is an alias, and `reasoning_details`
 *     is needed only for signed or encrypted blocks).
 *     https://openrouter.ai/docs/use-cases/reasoning-tokens#preserving-reasoning
 *   - ollama: `reasoning`. Its Message struct reads `json:"reasoning"`, and an unknown
 *     `reasoning_content` is silently dropped by Go's decoder.
 *     https://github.com/ollama/ollama/blob/main/openai/openai.go
 *   - minimax: `reasoning_details` (`[{type: 'reasoning.text', text}]`, with `reasoning_split`).
 *     https://platform.minimax.io/docs/api-reference/text-openai-api
 *   - deepseek, kimi, glm, qwen, doubao, siliconflow: `reasoning_content`, the field each returns
 *     (see the URLs above).
 *   - vllm: `reasoning_content`. Newer vLLM names its output field `reasoning` but still accepts an
 *     incoming `reasoning_content`, and the Qwen3 / DeepSeek chat templates read
 *     `reasoning_content`. https://docs.vllm.ai/en/stable/features/reasoning_outputs/
 *   - Any other dialect, or none: `reasoning_content`, the de-facto convention and what the hub
 *     sent before this module existed.
 */
export function reasoningField(dialect: string | undefined): 'reasoning_content' | 'reasoning' | 'reasoning_details' | undefined {
  switch (dialect) {
    case 'openai':
      return undefined;
    case 'openrouter':
    case 'ollama':
      return 'reasoning';
    case 'minimax':
      return 'reasoning_details';
    default:
      return 'reasoning_content';
  }
}
