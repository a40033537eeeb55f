/**
 * How a run reaches models. In process (`gatewayCaller`): every call goes through the gateway as
 * the hub's own calls do — admitted against the run's principal (its key's limits and budget),
 * routed, charged and recorded in the request log. Each call's request id is `<run id>.<n>`: the
 * run id tags every record of the run without a new column (the request log finds a run's
 * calls by that prefix). The call's cost is read from a post-hook (gateway/hooks.ts), the same
 * figure the record carries. Remote (`httpCaller`): plain HTTP to a running hub's
 * /v1/chat/completions and /v1/embeddings with the key given; that hub admits, charges and
 * records, and reports no cost to its client, so costs are unknown there.
 */
import { Cancel } from '../core/cancel.js';
import { HubError, toHubError } from '../core/errors.js';
import { canEmbed } from '../core/model.js';
import type { ChatRequest, ToolCall, Usage } from '../core/types.js';
import { routeWorstCaseUsd } from '../gateway/admission.js';
import { call, startCall } from '../gateway/call.js';
import { callContext } from '../gateway/context.js';
import type { Gateway } from '../gateway/context.js';
import type { CallEnd, Hook, Hooks } from '../gateway/hooks.js';
import { hooked } from '../gateway/hooks.js';
import { newOutcome } from '../gateway/outcome.js';
import { recordCall } from '../gateway/record.js';
import type { Principal } from '../tenancy/types.js';
import { estimateTextTokens, promptTokenBound, textTokenBound } from '../usage/estimate.js';
import type { EvalAnswer, EvalCaller, EvalEmbeddings } from './types.js';

/** The gateway with one more post-hook that hands each of this run's calls its cost. */
function withCostHook(gw: Gateway, ended: Map<string, (end: CallEnd) => void>): Gateway {
  const hook: Hook = {
    name: 'eval-cost',
    post(end) {
      const id = end.info.call?.requestId;
      if (end.info.via !== 'sub-call' && id !== undefined) ended.get(id)?.(end);
    },
  };
  const h: Hooks | undefined = gw.hooks;
  // Post-hooks run in reverse registration order: this one as if registered last, so it runs first.
  return { ...gw, hooks: { pre: h?.pre ?? [], post: [hook, ...(h?.post ?? [])], event: h?.event ?? [], relay: h?.relay ?? [], sent: h?.sent ?? [] } };
}

/** The vectors of an OpenAI embeddings response body, in input order. */
function openAIVectors(text: string): Float32Array[] {
  let json: { data?: { index?: number; embedding?: unknown }[] };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw new HubError('upstream', 'The embeddings answer is not JSON');
  }
  const data = Array.isArray(json.data) ? [...json.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)) : [];
  return data.map((d) => {
    if (!Array.isArray(d.embedding)) throw new HubError('upstream', 'The embeddings answer has a vector that is not a list of numbers');
    return Float32Array.from(d.embedding as number[]);
  });
}

/** The in-process caller, which also says how many request ids it has used. */
export interface GatewayEvalCaller extends EvalCaller {
  /** The last `<n>` used: a resumed run starts after it, so no request id is used twice. */
  lastSeq(): number;
}

/** `firstSeq`: the first `<n>` of the request ids (a resumed run continues its numbering). */
export function gatewayCaller(base: Gateway, principal: Principal, runId: string, firstSeq = 1): GatewayEvalCaller {
  const ended = new Map<string, (end: CallEnd) => void>();
  const gw = withCostHook(base, ended);
  let n = firstSeq - 1;
  const next = () => {
    const id = `${runId}.${++n}`;
    let cost: number | undefined;
    ended.set(id, (end) => {
      cost = end.costUsd;
      ended.delete(id);
    });
    return { id, cost: () => cost };
  };
  return {
    lastSeq: () => n,
    async complete(model, request, signal) {
      const { id, cost } = next();
      const t0 = performance.now();
      let text = '';
      const calls = new Map<number, { id: string; name: string; arguments: string }>();
      let usage: Usage | undefined;
      try {
        for await (const e of call(gw, callContext(principal, id, new Cancel(signal)), model, request)) {
          if (e.type === 'text' && (e.choice ?? 0) === 0) text += e.text;
          else if (e.type === 'tool_call' && (e.choice ?? 0) === 0) {
            const c = calls.get(e.index) ?? { id: '', name: '', arguments: '' };
            if (e.id) c.id = e.id;
            if (e.name) c.name += e.name;
            c.arguments += e.arguments;
            calls.set(e.index, c);
          } else if (e.type === 'usage') usage = e.usage;
        }
      } finally {
        ended.delete(id);
      }
      return { text, toolCalls: [...calls.values()] as ToolCall[], usage, costUsd: cost(), latencyMs: performance.now() - t0, requestId: id };
    },

    async embed(model, inputs, signal) {
      const { id, cost } = next();
      const ctx = callContext(principal, id, new Cancel(signal));
      const out = newOutcome();
      out.model = model;
      hooked(gw.hooks, out, { call: ctx, endpoint: 'embeddings', request: { model, input: inputs }, rawBody: '', via: 'call' });
      const t0 = performance.now();
      const ts = Date.now();
      let vectors: Float32Array[] = [];
      try {
        const size = (count: (t: string) => number) => inputs.reduce((s, x) => s + count(x), 0);
        const started = await startCall(gw, ctx, out, {
          endpoint: 'embeddings',
          model,
          stream: false,
          prompt: { estimate: size(estimateTextTokens), bound: () => size(textTokenBound) },
          maxOutput: 0,
          // OpenAI-compatible deployments relay the embeddings body as it is; others embed canonically.
          relay: { format: 'openai-embeddings', request: { body: { model, input: inputs } } },
          async canonical(attempt, m, cancel) {
            if (!canEmbed(m)) throw new HubError('bad_request', `The model '${model}' does not offer embeddings.`);
            const r = await m.embed({ model: attempt.deployment.upstreamModel, input: inputs }, cancel.signal);
            vectors = r.embeddings.map((v) => Float32Array.from(v));
            return { text: '', usage: r.usage };
          },
        });
        if (started.kind !== 'text') throw new HubError('internal', `An embedding call started as '${started.kind}'`);
        if (started.text) vectors = openAIVectors(started.text);
        if (vectors.length !== inputs.length) throw new HubError('upstream', `The embedding model answered ${vectors.length} vectors for ${inputs.length} inputs`);
      } catch (err) {
        const e = ctx.cancel.aborted ? new HubError('canceled', 'The run was canceled') : gw.registry.redactor.error(toHubError(err));
        out.error = e;
        out.errorKind = e.kind;
        out.status = e.status;
        throw e;
      } finally {
        ctx.cancel.finish();
        recordCall(gw, ctx, out, { t0, ts, endpoint: 'embeddings', caller: principal });
        ended.delete(id);
      }
      return { vectors, usage: out.usage, costUsd: cost(), latencyMs: performance.now() - t0 } satisfies EvalEmbeddings;
    },

    worstCaseUsd(model, request) {
      const route = gw.registry.route(model);
      return route ? routeWorstCaseUsd(gw.prices, route, promptTokenBound(request), request.maxTokens) : undefined;
    },
  };
}

/** A canonical request as an OpenAI Chat Completions body (the text-only subset a suite can write). */
function chatBody(model: string, r: ChatRequest): Record<string, unknown> {
  return {
    model,
    messages: r.messages.map((m) =>
      m.role === 'user' ? { role: 'user', content: m.content.map((p) => (p.type === 'text' ? p.text : '')).join('') } : m.role === 'tool' ? { role: 'tool', tool_call_id: m.toolCallId, content: m.content } : { role: m.role, content: m.content },
    ),
    ...(r.maxTokens !== undefined && { max_tokens: r.maxTokens }),
    ...(r.temperature !== undefined && { temperature: r.temperature }),
    ...(r.topP !== undefined && { top_p: r.topP }),
    ...(r.seed !== undefined && { seed: r.seed }),
    ...(r.stop && { stop: r.stop }),
    ...(r.tools && { tools: r.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description && { description: t.description }), parameters: t.parameters } })) }),
    ...(r.toolChoice && { tool_choice: typeof r.toolChoice === 'string' ? r.toolChoice : { type: 'function', function: { name: r.toolChoice.name } } }),
  };
}

async function post(url: string, apiKey: string, body: unknown, signal: AbortSignal): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify(body), signal });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HubError('upstream', `The hub answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) throw new HubError(res.status === 401 ? 'authentication' : res.status === 429 ? 'rate_limited' : 'upstream', String(json?.error?.message ?? `HTTP ${res.status}`).slice(0, 500));
  return json;
}

export function httpCaller(baseUrl: string, apiKey: string): EvalCaller {
  const root = baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  return {
    async complete(model, request, signal): Promise<EvalAnswer> {
      const t0 = performance.now();
      const json = await post(`${root}/v1/chat/completions`, apiKey, chatBody(model, request), signal);
      const msg = json?.choices?.[0]?.message ?? {};
      const u = json?.usage;
      return {
        text: typeof msg.content === 'string' ? msg.content : '',
        toolCalls: Array.isArray(msg.tool_calls) ? msg.tool_calls.map((c: any) => ({ id: String(c.id ?? ''), name: String(c.function?.name ?? ''), arguments: String(c.function?.arguments ?? '') })) : [],
        usage: u ? { inputTokens: Number(u.prompt_tokens) || 0, outputTokens: Number(u.completion_tokens) || 0 } : undefined,
        costUsd: undefined,
        latencyMs: performance.now() - t0,
      };
    },
    async embed(model, inputs, signal) {
      const t0 = performance.now();
      const json = await post(`${root}/v1/embeddings`, apiKey, { model, input: inputs }, signal);
      const data = Array.isArray(json?.data) ? [...json.data].sort((a: any, b: any) => a.index - b.index) : [];
      return { vectors: data.map((d: any) => Float32Array.from(d.embedding as number[])), usage: undefined, costUsd: undefined, latencyMs: performance.now() - t0 };
    },
    worstCaseUsd: () => undefined,
  };
}
