import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { HubError } from '../../core/errors.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import { parseJSONBody, validate } from '../../protocols/validate.js';
import { BUDGET_PERIODS } from '../../tenancy/types.js';
import type { Team, VirtualKey } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';
import { decodePathPart, readBody, sendJSON } from '../http.js';
import { listRequests, requestDetail } from './requests.js';
import { usageQuery, usageQueryParams } from './usage-query.js';

const limitsFields = {
  allowed_models: z.array(z.string().min(1)).optional(),
  rpm: z.number().int().positive().nullable().optional(),
  tpm: z.number().int().positive().nullable().optional(),
  budget_usd: z.number().min(0).nullable().optional(),
  budget_period: z.enum(BUDGET_PERIODS).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  name: z.string().min(1).max(200).optional(),
};

const teamBody = z.strictObject(limitsFields);
const keyBody = z.strictObject({
  ...limitsFields,
  team_id: z.string().nullable().optional(),
  /** ISO 8601 time, or null for never. */
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
});

/** snake_case API fields → the service's input, `null` clearing a limit. */
function limitsInput(b: z.infer<typeof teamBody>) {
  return {
    ...(b.name !== undefined && { name: b.name }),
    ...(b.allowed_models !== undefined && { allowedModels: b.allowed_models }),
    ...(b.rpm !== undefined && { rpm: b.rpm ?? undefined }),
    ...(b.tpm !== undefined && { tpm: b.tpm ?? undefined }),
    ...(b.budget_usd !== undefined && { budgetUsd: b.budget_usd ?? undefined }),
    ...(b.budget_period !== undefined && { budgetPeriod: b.budget_period }),
    ...(b.metadata !== undefined && { metadata: b.metadata }),
  };
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

async function spend(ctx: HubContext, account: string, t: Team | VirtualKey): Promise<number | null> {
  return t.budgetUsd === undefined ? null : Math.round((await ctx.ledger.spent(account, t.budgetPeriod ?? 'month')) * 1e6) / 1e6;
}

async function teamOut(ctx: HubContext, t: Team) {
  return {
    id: t.id,
    object: 'team',
    name: t.name,
    allowed_models: t.allowedModels ?? [],
    rpm: t.rpm ?? null,
    tpm: t.tpm ?? null,
    budget_usd: t.budgetUsd ?? null,
    budget_period: t.budgetPeriod ?? 'month',
    spend_usd: await spend(ctx, `team:${t.id}`, t),
    metadata: t.metadata,
    created_at: iso(t.createdAt),
  };
}

/** Never includes the key or its hash: only the visible prefix. */
async function keyOut(ctx: HubContext, k: VirtualKey) {
  return {
    id: k.id,
    object: 'key',
    name: k.name,
    prefix: k.prefix,
    team_id: k.teamId ?? null,
    allowed_models: k.allowedModels ?? [],
    rpm: k.rpm ?? null,
    tpm: k.tpm ?? null,
    budget_usd: k.budgetUsd ?? null,
    budget_period: k.budgetPeriod ?? 'month',
    spend_usd: await spend(ctx, `key:${k.id}`, k),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    metadata: k.metadata,
    created_at: iso(k.createdAt),
  };
}

async function body(ctx: HubContext, req: IncomingMessage): Promise<unknown> {
  return parseJSONBody(await readBody(req, ctx.maxBodyBytes));
}

/**
 * The admin API: teams, keys, usage and deployment health. Every route needs the admin key.
 * Returns false when the path is not an admin path.
 */
export async function admin(ctx: HubContext, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    ctx.tenancy.requireAdmin(req.headers);
    const parts = path.split('/').filter(Boolean).slice(1); // after "admin"
    const [collection, id, action] = parts;
    switch (collection) {
      case 'deployments':
        if (method !== 'GET') break;
        return sendJSON(res, 200, {
          object: 'list',
          data: ctx.registry.deployments().map(({ model, deployment }) => ({ route: model, ...deployment.health() })),
        });
      case 'requests':
        if (method !== 'GET') break;
        return sendJSON(res, 200, await (id ? requestDetail(ctx, decodePathPart(id), undefined) : listRequests(ctx, query, undefined)));
      case 'usage':
        if (method !== 'GET') break;
        return sendJSON(res, 200, await usageQuery(ctx, validate(usageQueryParams, Object.fromEntries(query))));
      case 'teams':
        if (!id && method === 'GET') return sendJSON(res, 200, { object: 'list', data: await Promise.all(ctx.tenancy.teams().map((t) => teamOut(ctx, t))) });
        if (!id && method === 'POST') return sendJSON(res, 201, await teamOut(ctx, await ctx.tenancy.createTeam(limitsInput(validate(teamBody, await body(ctx, req))))));
        if (id && !action && method === 'GET') return sendJSON(res, 200, await teamOut(ctx, ctx.tenancy.team(id)));
        if (id && !action && method === 'PATCH') return sendJSON(res, 200, await teamOut(ctx, await ctx.tenancy.updateTeam(id, limitsInput(validate(teamBody, await body(ctx, req))))));
        if (id && !action && method === 'DELETE') {
          await ctx.tenancy.deleteTeam(id);
          return sendJSON(res, 200, { id, object: 'team', deleted: true });
        }
        break;
      case 'keys': {
        if (!id && method === 'GET') return sendJSON(res, 200, { object: 'list', data: await Promise.all(ctx.tenancy.keys().map((k) => keyOut(ctx, k))) });
        if (!id && method === 'POST') {
          const b = validate(keyBody, await body(ctx, req));
          const { secret, key } = await ctx.tenancy.createKey({
            ...limitsInput(b),
            ...(b.team_id !== undefined && { teamId: b.team_id }),
            ...(b.expires_at != null && { expiresAt: Date.parse(b.expires_at) }),
          });
          // The only time the key is ever shown.
          return sendJSON(res, 201, { ...(await keyOut(ctx, key)), key: secret });
        }
        if (id && !action && method === 'GET') return sendJSON(res, 200, await keyOut(ctx, ctx.tenancy.key(id)));
        if (id && !action && method === 'PATCH') {
          const b = validate(keyBody, await body(ctx, req));
          return sendJSON(res, 200, await keyOut(ctx, await ctx.tenancy.updateKey(id, {
            ...limitsInput(b),
            ...(b.team_id !== undefined && { teamId: b.team_id }),
            ...(b.expires_at !== undefined && { expiresAt: b.expires_at === null ? null : Date.parse(b.expires_at) }),
          })));
        }
        if (id && ((!action && method === 'DELETE') || (action === 'revoke' && method === 'POST'))) {
          return sendJSON(res, 200, await keyOut(ctx, await ctx.tenancy.revokeKey(id)));
        }
        break;
      }
      default:
        throw new HubError('not_found', `Unknown admin URL: ${method} ${path}.`, { code: 'unknown_url' });
    }
    throw new HubError('bad_request', `Method ${method} is not allowed on ${path}.`, { status: 405, code: 'method_not_allowed' });
  } catch (err) {
    // Anything else is the hub's own fault: the server's last line of defence logs it and answers 500.
    if (!(err instanceof HubError)) throw err;
    sendJSON(res, err.status, openAIErrorBody(err));
  }
}
