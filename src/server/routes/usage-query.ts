import { z } from 'zod';
import { USAGE_GROUPS } from '../../usage/ports.js';
import type { UsageGroup } from '../../usage/ports.js';
import type { HubContext } from '../context.js';

const GROUP_LIST = USAGE_GROUPS.join('|');
const HOUR = 3_600_000;

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
 * Usage totals filtered and grouped, read from the hourly totals (PostgreSQL: their rollups) the store keeps in step with
 * every write — so a month over a million records answers in milliseconds. Time bounds are
 * therefore whole hours: `from` rounds down and `to` up to the hour.
 */
export async function usageQuery(ctx: HubContext, q: z.infer<typeof usageQueryParams>) {
  const now = Date.now();
  const from = Math.floor((q.from ?? now - 30 * 86_400_000) / HOUR) * HOUR;
  const to = Math.ceil((q.to ?? now + 1) / HOUR) * HOUR;
  const groups = (q.group_by?.split(',') ?? []) as UsageGroup[];
  const rows = await ctx.stores.usage.totals({
    from,
    to,
    groupBy: groups,
    includeAttempts: q.include_attempts === 'true',
    limit: q.limit ?? 1000,
    ...(q.key_id && { keyId: q.key_id }),
    ...(q.team_id && { teamId: q.team_id }),
    ...(q.model && { model: q.model }),
    ...(q.provider && { provider: q.provider }),
  });
  return { object: 'usage', from: new Date(from).toISOString(), to: new Date(to).toISOString(), group_by: groups, data: rows };
}
