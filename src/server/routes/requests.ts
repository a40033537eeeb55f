import { HubError } from '../../core/errors.js';
import type { UsageRow } from '../../usage/ports.js';
import type { HubContext } from '../context.js';

/** A usage record as the request log shows it. */
export function requestOut(r: UsageRow) {
  return {
    request_id: r.request_id,
    ts: new Date(r.ts).toISOString(),
    endpoint: r.endpoint,
    model: r.model,
    provider: r.provider,
    deployment: r.deployment,
    status: r.status,
    error_kind: r.error_kind,
    stream: r.stream === 1,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cached_input_tokens: r.cached_input_tokens,
    reasoning_tokens: r.reasoning_tokens,
    cost_usd: r.cost_usd,
    latency_ms: r.latency_ms,
    ttft_ms: r.ttft_ms,
    attempts: r.attempt,
    key_id: r.key_id,
    usage_counted: r.usage_counted === 1,
  };
}

export async function listRequests(ctx: HubContext, q: URLSearchParams, keyId: string | undefined) {
  const limit = Math.min(Math.max(Number(q.get('limit') ?? 50) || 50, 1), 500);
  const before = q.get('before');
  const rows = await ctx.stores.usage.requests({
    limit,
    ...(before && /^\d+$/.test(before) && { before: Number(before) }),
    ...((keyId ?? q.get('key_id')) && { keyId: keyId ?? q.get('key_id')! }),
    ...(q.get('model') && { model: q.get('model')! }),
    ...(q.get('status') && { status: q.get('status')! }),
  });
  return { object: 'list', data: rows.map(requestOut), next_before: rows.length === limit ? String(rows.at(-1)!.id) : null };
}

/** One request with its attempts, captured bodies and (for virtual models) its trace. */
export async function requestDetail(ctx: HubContext, requestId: string, keyId: string | undefined) {
  const records = await ctx.stores.usage.requestRecords(requestId);
  const final = records.find((r) => r.final === 1);
  if (!final || (keyId !== undefined && final.key_id !== keyId)) {
    throw new HubError('not_found', `No request '${requestId}'.`, { code: 'request_not_found' });
  }
  return {
    request: requestOut(final),
    attempts: records.map((r) => ({ attempt: r.attempt, deployment: r.deployment, provider: r.provider, status: r.status, error_kind: r.error_kind, latency_ms: r.latency_ms, final: r.final === 1 })),
    bodies: (await ctx.stores.usage.bodies(requestId)) ?? null,
    trace: (await ctx.stores.usage.trace(requestId)) ?? null,
  };
}
