import { z } from 'zod';
import type { HubContext } from '../context.js';

const GROUPS = {
  key: "NULLIF(key_id, '')",
  team: "NULLIF(team_id, '')",
  model: 'model',
  provider: "NULLIF(provider, '')",
  deployment: "NULLIF(deployment, '')",
  status: 'status',
  day: "strftime('%Y-%m-%d', hour / 1000, 'unixepoch')",
  hour: "strftime('%Y-%m-%dT%H:00:00Z', hour / 1000, 'unixepoch')",
} as const;
const GROUP_LIST = 'key|team|model|provider|deployment|status|day|hour';
const HOUR = 3_600_000;
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
  /** Comma-separated: key, team, model, provider, deployment, status, day, hour. */
  group_by: z
    .string()
    .regex(new RegExp(`^(${GROUP_LIST})(,(${GROUP_LIST}))*$`), 'expected a comma-separated list of key, team, model, provider, deployment, status, day, hour')
    .optional(),
  /** Count failed attempts that were retried, not only requests. */
  include_attempts: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/**
 * Usage totals filtered and grouped, read from the hourly totals the store keeps in step with
 * every write — so a month over a million records answers in milliseconds. Time bounds are
 * therefore whole hours: `from` rounds down and `to` up to the hour.
 */
export function usageQuery(ctx: HubContext, q: z.infer<typeof usageQueryParams>) {
  const now = Date.now();
  const from = Math.floor((q.from ?? now - 30 * 86_400_000) / HOUR) * HOUR;
  const to = Math.ceil((q.to ?? now + 1) / HOUR) * HOUR;
  const groups = (q.group_by?.split(',') ?? []) as Group[];
  const where = ['hour >= @from', 'hour < @to'];
  if (q.include_attempts !== 'true') where.push('final = 1');
  if (q.key_id) where.push('key_id = @key_id');
  if (q.team_id) where.push('team_id = @team_id');
  if (q.model) where.push('model = @model');
  if (q.provider) where.push('provider = @provider');
  const cols = groups.map((g) => `${GROUPS[g]} AS ${g}`);
  const sql = `SELECT ${[...cols,
    'COALESCE(SUM(requests), 0) AS requests',
    'COALESCE(SUM(CASE WHEN status >= 400 THEN requests ELSE 0 END), 0) AS errors',
    'COALESCE(SUM(input_tokens), 0) AS input_tokens',
    'COALESCE(SUM(output_tokens), 0) AS output_tokens',
    'COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens',
    'COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens',
    'COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens',
    'COALESCE(SUM(cost_usd), 0) AS cost_usd',
    'SUM(latency_ms_sum) / SUM(requests) AS avg_latency_ms',
    'SUM(ttft_ms_sum) / NULLIF(SUM(ttft_count), 0) AS avg_ttft_ms',
  ].join(', ')} FROM usage_hourly WHERE ${where.join(' AND ')}${groups.length ? ` GROUP BY ${groups.map((g) => GROUPS[g]).join(', ')} ORDER BY ${groups.map((g) => GROUPS[g]).join(', ')}` : ''} LIMIT @limit`;
  const rows = ctx.store.statement(sql).all({
    from,
    to,
    limit: q.limit ?? 1000,
    ...(q.key_id && { key_id: q.key_id }),
    ...(q.team_id && { team_id: q.team_id }),
    ...(q.model && { model: q.model }),
    ...(q.provider && { provider: q.provider }),
  });
  return { object: 'usage', from: new Date(from).toISOString(), to: new Date(to).toISOString(), group_by: groups, data: rows };
}
