import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { LeaderboardCache } from '../../arena/board-cache.js';
import type { ArenaStanding } from '../../arena/bradley-terry.js';
import { judgementFromVote, MAX_VOTE_TEXT } from '../../arena/judgement.js';
import { HubError } from '../../core/errors.js';
import { unlessDown } from '../../gateway/admission.js';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import { parseJSONBody, validate } from '../../protocols/validate.js';
import type { Principal } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';
import { decodePathPart, readBody, sendJSON } from '../http.js';
import { listRequests, requestDetail } from './requests.js';
import { usageQuery, usageQueryParams } from './usage-query.js';

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const voteText = z.string().max(MAX_VOTE_TEXT, `at most ${MAX_VOTE_TEXT} characters`);
const voteBody = z.strictObject({
  models: z.tuple([z.string().min(1).max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG), z.string().min(1).max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG)]),
  winner: z.enum(['a', 'b', 'tie', 'bad']),
  /** The prompt and the two answers (in the models' order) as the voter saw them: kept with the judgement. */
  prompt: voteText.nullish(),
  answers: z.tuple([voteText, voteText]).nullish(),
});

/**
 * Votes one key may cast a minute: a person comparing answers casts a few; a script stuffing the
 * board is refused with 429. Counted by the hub's limiter, so replicas hold it together. The
 * admin key (the operator) is not limited.
 */
export const ARENA_VOTES_PER_MINUTE = 30;

/** The arena board is a pure function of the votes: one cache for the process (keyed by the votes). */
const boards = new LeaderboardCache();

/** One line of the board on the wire. `rating` is the Bradley–Terry score (it was Elo before). */
function standingJSON(s: ArenaStanding) {
  return {
    model: s.model,
    rating: s.rating,
    ci_lower: s.ciLower,
    ci_upper: s.ciUpper,
    rank: s.rank,
    votes: s.votes,
    games: s.games,
    wins: s.wins,
    losses: s.losses,
    ties: s.ties,
    bad: s.bad,
  };
}

/** What a signed-in key may see of itself; the admin key sees everything as well. */
function keyScope(p: Principal): string | undefined {
  return p.kind === 'key' ? p.key.id : undefined;
}

/**
 * Self-service for whoever holds a key: who am I, my usage, my requests, and the arena (blind
 * votes, kept as human judgements in the eval store, and the Bradley–Terry leaderboard over them).
 * The admin key sees everyone's here.
 */
export async function me(ctx: HubContext, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    // Asks the shared store only when the cache misses (a key just made on another hub).
    const principal = await ctx.tenancy.authenticateShared(req.headers);
    const scope = keyScope(principal);
    if (path === '/v1/me' && method === 'GET') {
      if (principal.kind !== 'key') return sendJSON(res, 200, { kind: principal.kind });
      const k = principal.key;
      return sendJSON(res, 200, {
        kind: 'key',
        key: {
          id: k.id,
          name: k.name,
          prefix: k.prefix,
          team_id: k.teamId ?? null,
          allowed_models: k.allowedModels ?? [],
          rpm: k.rpm ?? null,
          tpm: k.tpm ?? null,
          budget_usd: k.budgetUsd ?? null,
          budget_period: k.budgetPeriod ?? 'month',
          spend_usd: k.budgetUsd === undefined ? null : await ctx.ledger.spent(`key:${k.id}`, k.budgetPeriod ?? 'month'),
          expires_at: k.expiresAt === undefined ? null : new Date(k.expiresAt).toISOString(),
        },
      });
    }
    if (path === '/v1/me/usage' && method === 'GET') {
      const q = validate(usageQueryParams, Object.fromEntries(query));
      return sendJSON(res, 200, await usageQuery(ctx, scope ? { ...q, key_id: scope } : q));
    }
    if (path === '/v1/me/requests' && method === 'GET') return sendJSON(res, 200, await listRequests(ctx, query, scope));
    if (path.startsWith('/v1/me/requests/') && method === 'GET') return sendJSON(res, 200, await requestDetail(ctx, decodePathPart(path.slice(16)), scope));
    if (path === '/v1/arena/votes' && method === 'POST') {
      const v = validate(voteBody, parseJSONBody(await readBody(req, ctx.maxBodyBytes)));
      if (v.models[0] === v.models[1]) throw new HubError('bad_request', 'A vote compares two different models.', { param: 'models' });
      // A vote is evidence about models this hub serves: an invented name would sit on the board forever.
      v.models.forEach((m, i) => {
        // No model name holds control characters (resolving one refuses them too); they would reach logs and the console.
        if (CONTROL_CHARS.test(m) || !ctx.registry.serves(m)) throw new HubError('bad_request', `The model '${JSON.stringify(m.slice(0, 100)).slice(1, -1)}' is not one this hub serves; see GET /v1/models.`, { param: `models[${i}]`, code: 'model_not_found' });
      });
      if (scope) {
        // Only a vote that would be stored counts (a refused one costs nothing of the allowance).
        const rate = await unlessDown(() => ctx.limiter.admit([{ account: `arena:${scope}`, rpm: ARENA_VOTES_PER_MINUTE }], 0));
        if (!rate.ok) {
          throw new HubError('rate_limited', `Too many arena votes from this key: at most ${ARENA_VOTES_PER_MINUTE} a minute. Retry after ${rate.retryAfterSeconds}s.`, {
            code: 'rate_limit_exceeded',
            headers: rate.headers,
            ...(rate.retryAfterSeconds !== undefined && { retryAfter: rate.retryAfterSeconds }),
          });
        }
      }
      const j = await ctx.stores.judgements.addJudgement(judgementFromVote(v, scope ?? null, Date.now()));
      return sendJSON(res, 201, { object: 'arena.vote', id: j.id, models: v.models, winner: v.winner });
    }
    if (path === '/v1/arena/leaderboard' && method === 'GET') {
      const board = await boards.board(await ctx.stores.judgements.judgementOutcomes());
      return sendJSON(res, 200, {
        object: 'list',
        method: 'bradley-terry',
        ties: 'half a win each',
        confidence: 0.95,
        bootstrap_rounds: board.rounds,
        seed: board.seed,
        data: board.standings.map(standingJSON),
      });
    }
    throw new HubError('not_found', `Unknown request URL: ${method} ${path}.`, { code: 'unknown_url' });
  } catch (err) {
    // Anything else is the hub's own fault: the server's last line of defence logs it and answers 500.
    if (!(err instanceof HubError)) throw err;
    sendJSON(res, err.status, openAIErrorBody(err), { ...err.headers, ...(err.retryAfter !== undefined && { 'retry-after': String(err.retryAfter) }) });
  }
}
