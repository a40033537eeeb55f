import { z } from 'zod';
import type { HubContext } from '../context.js';

const GROUPS = {
  key: 'key_id',
  team: 'team_id',
  model: 'model',
  provider: 'provider',
  deployment: 'deployment',
  status: 'status',
  day: "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
} as const;
type Group = keyof typeof GROUPS;

const time = z.union([z.iso.datetime({ offset: true }), z.iso.date(), z.string().regex(/^\d+$/)]).transform((v) => (/^\d+$/.test(v) ? Number(v) : Date.parse(v)));

export const usageQueryParams = z.strictObject({
  /** ISO date/time or unix ms; default: 30 days ago. */
  from: time.optional(),
  /** ISO date/time or unix ms, exclusive; default: now. */
  to: time.optional(),
  key_id: z.string().optional(),
  team_id: z.string().optional(),
  model: z.string().optional(),
  provider: z.string().optional(),
  /** Comma-separated: key, team, model, provider, deployment, status, day. */
  group_by: z
    .string()
    .regex(/^(key|team|model|provider|deployment|status|day)(,(key|team|model|provider|deployment|status|day))*$/, 'expected a comma-separated list of key, team, model, provider, deployment, status, day')
    .optional(),
  /** Count failed attempts that were retried, not only requests. */
  include_attempts: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/**
 * Usage totals filtered and grouped. Every filter maps onto an index (ts, key_id+ts, team_id+ts,
 * model+ts), so a month of a million records aggregates without a table scan.
 */
export function usageQuery(ctx: HubContext, q: z.infer<typeof usageQueryParams>) {
  const now = Date.now();
  const from = q.from ?? now - 30 * 86_400_000;
  const to = q.to ?? now + 1;
  const groups = (q.group_by?.split(',') ?? []) as Group[];
  const where = ['ts >= @from', 'ts < @to'];
  if (q.include_attempts !== 'true') where.push('final = 1');
  if (q.key_id) where.push('key_id = @key_id');
  if (q.team_id) where.push('team_id = @team_id');
  if (q.model) where.push('model = @model');
  if (q.provider) where.push('provider = @provider');
  const cols = groups.map((g) => `${GROUPS[g]} AS ${g}`);
  const sql = `SELECT ${[...cols,
    'COUNT(*) AS requests',
    'SUM(status >= 400) AS errors',
    'COALESCE(SUM(input_tokens), 0) AS input_tokens',
    'COALESCE(SUM(output_tokens), 0) AS output_tokens',
    'COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens',
    'COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens',
    'COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens',
    'COALESCE(SUM(cost_usd), 0) AS cost_usd',
    'AVG(latency_ms) AS avg_latency_ms',
    'AVG(ttft_ms) AS avg_ttft_ms',
  ].join(', ')} FROM usage WHERE ${where.join(' AND ')}${groups.length ? ` GROUP BY ${groups.map((g) => GROUPS[g]).join(', ')} ORDER BY ${groups.map((g) => GROUPS[g]).join(', ')}` : ''} LIMIT @limit`;
  const rows = ctx.usageStatements(sql).all({
    from,
    to,
    limit: q.limit ?? 1000,
    ...(q.key_id && { key_id: q.key_id }),
    ...(q.team_id && { team_id: q.team_id }),
    ...(q.model && { model: q.model }),
    ...(q.provider && { provider: q.provider }),
  });
  return { object: 'usage', from: new Date(from).toISOString(), to: new Date(Math.min(to, now)).toISOString(), group_by: groups, data: rows };
}
