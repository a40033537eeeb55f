/**
 * The evals API: `POST`/`GET /v1/evals/runs`, `GET /v1/evals/runs/{id}` (status and stats),
 * `GET …/{id}/results` (paged), `POST …/{id}/cancel`, `GET …/{id}/report?format=json|junit|html`
 * (the renderers `baimo eval run -o` uses), `GET /v1/evals/compare?a=RUN&b=RUN`, and
 * `GET /v1/evals/judgements` (the arena's human judgements, newest first). Authenticated
 * as the model API is; a key sees only its own runs and judgements (another key's run is a 404, as
 * if absent), the admin and an open hub all of them. Errors in OpenAI's shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { HubError } from '../../core/errors.js';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';
import { compareReports, CompareError } from '../../eval/compare.js';
import { JUDGEMENT_ID } from '../../eval/ports.js';
import type { RunOwner, StoredJudgement, StoredRun } from '../../eval/ports.js';
import { htmlReport } from '../../eval/report/html.js';
import { jsonReport } from '../../eval/report/json.js';
import { junitReport } from '../../eval/report/junit.js';
import type { CellResult } from '../../eval/run.js';
import { runOwner } from '../../eval/service.js';
import type { EvalRunService, RunStats } from '../../eval/service.js';
import { LIMITS } from '../../eval/suite.js';
import { SuiteError } from '../../eval/types.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import type { Principal } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';
import { readBody, sendJSON, sendRaw } from '../http.js';

const MAX_PAGE = 1000;

const submitSchema = z
  .object({
    suite: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
    repeat: z.number().int().min(1).max(LIMITS.repeat).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    maxCostUsd: z.number().positive().finite().optional(),
    noCache: z.boolean().optional(),
  })
  .strict();

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

function badRequest(message: string, param: string | null = null): HubError {
  return new HubError('bad_request', message, param === null ? {} : { param });
}

/** `after=`: the last id or cell key of the previous page; none holds a control character (PostgreSQL refuses a NUL). */
function cursor(query: URLSearchParams): string | undefined {
  const after = query.get('after') || undefined;
  if (after !== undefined && CONTROL_CHARS.test(after)) throw badRequest(`Invalid 'after': expected the last id of the previous page.`, 'after');
  return after;
}

function noSuchRun(id: string): HubError {
  return new HubError('not_found', `No such eval run: ${id.slice(0, 200)}`, { param: 'id' });
}

function notAllowed(method: string, allow: string): HubError {
  return new HubError('bad_request', `Method ${method} is not allowed here; use ${allow}.`, { status: 405, code: 'method_not_allowed', headers: { allow } });
}

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/**
 * The run object of the API. `pass_rate` (in the list; in `stats` for one run): the cases planned
 * that passed every repetition so far, as `stats.pass_rate`.
 */
function runObject(r: StoredRun, extra: { stats?: Record<string, unknown>; passRate?: number | undefined } = {}): Record<string, unknown> {
  const { stats, passRate } = extra;
  return {
    id: r.id,
    object: 'eval.run',
    description: r.description,
    status: r.status,
    stop_reason: r.stopReason,
    error: r.error,
    created_at: seconds(r.createdAt),
    started_at: seconds(r.startedAt),
    finished_at: seconds(r.finishedAt),
    options: { repeat: r.options.repeat, concurrency: r.options.concurrency ?? null, maxCostUsd: r.options.maxCostUsd ?? null, noCache: r.options.noCache },
    progress: { planned: r.planned, done: r.done, failures: r.failures },
    spent_usd: r.spentUsd,
    ...(passRate !== undefined && { pass_rate: passRate }),
    ...(stats && { stats }),
  };
}

/** One result: the cell as the JSON report writes it, with its key for paging. */
function resultObject(c: CellResult): Record<string, unknown> {
  return {
    key: c.key,
    testIdx: c.testIdx,
    promptIdx: c.promptIdx,
    providerIdx: c.providerIdx,
    repeat: c.repeat,
    description: c.description,
    provider: c.provider,
    prompt: c.prompt,
    vars: c.vars,
    response: c.response ?? null,
    error: c.error ?? null,
    success: c.success,
    score: c.score,
    cost: c.cost ?? 0,
    latencyMs: Math.round(c.latencyMs),
    requestId: c.requestId ?? null,
    gradingResult: { pass: c.success, score: c.score, reason: c.reason, componentResults: c.componentResults },
  };
}

function pageLimit(query: URLSearchParams, fallback: number): number {
  const text = query.get('limit');
  if (text === null) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw badRequest(`Invalid 'limit': expected an integer from 1 to ${MAX_PAGE}.`, 'limit');
  return Math.min(n, MAX_PAGE);
}

/** One judgement on the wire: the two sides in the order voted, `answers` null when the client sent none. */
function judgementObject(j: StoredJudgement): Record<string, unknown> {
  return {
    id: j.id,
    object: 'eval.judgement',
    created_at: Math.floor(j.ts / 1000),
    key_id: j.keyId,
    models: [j.modelA, j.modelB],
    winner: j.winner,
    prompt: j.prompt,
    answers: j.answerA === null && j.answerB === null ? null : [j.answerA, j.answerB],
  };
}

async function listJudgements(ctx: HubContext, method: string, query: URLSearchParams, owner: RunOwner, res: ServerResponse): Promise<void> {
  if (method !== 'GET') throw notAllowed(method, 'GET');
  const after = query.get('after') || undefined;
  if (after !== undefined && !JUDGEMENT_ID.test(after)) throw badRequest(`Invalid 'after': expected a judgement id (jdg_…).`, 'after');
  const model = query.get('model') || undefined;
  if (model !== undefined && model.length > MAX_MODEL_NAME) throw badRequest(`Invalid 'model': ${MODEL_NAME_TOO_LONG}`, 'model');
  // No model name holds one (a vote naming one is refused), and PostgreSQL refuses a NUL in a query's text.
  if (model !== undefined && CONTROL_CHARS.test(model)) throw badRequest(`Invalid 'model': a model name has no control characters.`, 'model');
  const page = await ctx.stores.judgements.listJudgements({ owner, model, limit: Math.min(pageLimit(query, 20), 100), after });
  // Whole judgements up to a page's bytes (at least one): their texts, 96 KB a judgement as
  // stored, JSON may write six times larger (a control character as \u0001).
  const data: string[] = [];
  let bytes = 0;
  for (const j of page.data) {
    const text = JSON.stringify(judgementObject(j));
    if (data.length > 0 && bytes + text.length > JUDGEMENT_PAGE_BYTES) break;
    data.push(text);
    bytes += text.length;
  }
  const shown = page.data.slice(0, data.length);
  const hasMore = page.hasMore || shown.length < page.data.length;
  const ends = JSON.stringify({ first_id: shown[0]?.id ?? null, last_id: shown.at(-1)?.id ?? null, has_more: hasMore }).slice(1);
  sendRaw(res, 200, `{"object":"list","data":[${data.join(',')}],${ends}`);
}

/** The most a page of judgements writes (characters of JSON), its first judgement aside. */
const JUDGEMENT_PAGE_BYTES = 4 * 1024 * 1024;

async function submit(ctx: HubContext, evals: EvalRunService, req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
  const text = await readBody(req, ctx.maxBodyBytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
  const body = submitSchema.safeParse(json);
  if (!body.success) {
    const i = body.error.issues[0]!;
    const param = i.path.join('.') || (i.code === 'unrecognized_keys' ? i.keys.join(', ') : null);
    throw badRequest(`Invalid request: ${param ? `'${param}': ` : ''}${i.code === 'unrecognized_keys' ? `unknown parameter(s) ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message}`, param);
  }
  const run = await evals.submit(principal, body.data.suite, body.data);
  sendJSON(res, 202, runObject(run));
}

async function report(ctx: HubContext, evals: EvalRunService, res: ServerResponse, run: StoredRun, format: string): Promise<void> {
  const result = await evals.runResult(run);
  if (format === 'json') return sendJSON(res, 200, jsonReport(result));
  // Model output is in it (escaped): opened in a browser, it still runs nothing and is read as nothing but XML.
  if (format === 'junit') return sendRaw(res, 200, junitReport(result), { 'content-type': 'application/xml; charset=utf-8', 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff' });
  // The report runs no script; a CSP says so to the browser too.
  return sendRaw(res, 200, htmlReport(result), { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" });
}

/**
 * A run's stats on the wire (eval/service.ts `stats`: from the sums the store keeps, no cell read),
 * with `models` per provider of the suite for the console's quality-versus-cost chart.
 */
function statsObject(s: RunStats): Record<string, unknown> {
  return {
    successes: s.successes,
    failures: s.failures,
    errors: s.errors,
    cases: s.cases,
    pass_rate: s.passRate,
    threshold: s.threshold,
    threshold_met: s.thresholdMet,
    tests: s.tests,
    prompts: s.prompts,
    models: s.models.map((m) => ({
      provider: m.provider,
      label: m.label,
      cases: m.cases,
      passed: m.passed,
      pass_rate: m.passRate,
      mean_score: m.meanScore,
      cost_usd: m.costUsd,
      mean_cost_usd: m.meanCostUsd,
    })),
  };
}

export async function evalsApi(ctx: HubContext, req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    const principal = await ctx.tenancy.authenticateShared(req.headers);
    const evals = ctx.evals;
    const store = ctx.stores.evalRuns;
    const owner = runOwner(principal);
    // Human judgements need no run service: every store keeps them (the arena writes them).
    if (rest === '/judgements' || rest === '/judgements/') return await listJudgements(ctx, method, query, owner, res);
    if (!evals || !store) throw new HubError('not_found', 'This hub keeps no eval runs.', { code: 'unknown_url' });
    if (rest === '/compare') {
      if (method !== 'GET') throw notAllowed(method, 'GET');
      const ids = ['a', 'b'].map((p) => {
        const v = query.get(p);
        if (!v) throw badRequest(`Missing required parameter: '${p}' (a run id).`, p);
        return v;
      });
      const reports = await Promise.all(
        ids.map(async (id) => {
          const run = CONTROL_CHARS.test(id) ? undefined : await store.get(id, owner);
          if (!run) throw noSuchRun(id);
          return jsonReport(await evals.runResult(run));
        }),
      );
      return sendJSON(res, 200, { object: 'eval.comparison', ...compareReports(reports[0], reports[1]) });
    }
    if (rest === '/runs' || rest === '/runs/') {
      if (method === 'POST') return await submit(ctx, evals, req, res, principal);
      if (method !== 'GET') throw notAllowed(method, 'GET, POST');
      const page = await store.list({ owner, limit: pageLimit(query, 20), after: cursor(query) });
      const rates = await evals.passRates(page.data);
      return sendJSON(res, 200, { object: 'list', data: page.data.map((r) => runObject(r, { passRate: rates.get(r.id) })), first_id: page.data[0]?.id ?? null, last_id: page.data.at(-1)?.id ?? null, has_more: page.hasMore });
    }
    const parts = rest.startsWith('/runs/') ? rest.slice('/runs/'.length).split('/') : [];
    const id = parts[0] ?? '';
    if (id === '' || parts.length > 2) throw new HubError('not_found', `Unknown request URL: ${method} /v1/evals${rest.slice(0, 200)}.`, { code: 'unknown_url' });
    const sub = parts[1];
    // No run id holds a control character, and PostgreSQL refuses a NUL in a query's text: absent, as any unknown id.
    if (CONTROL_CHARS.test(id)) throw noSuchRun(id);
    if (sub === 'cancel') {
      if (method !== 'POST') throw notAllowed(method, 'POST');
      req.resume();
      const run = await evals.cancel(id, owner);
      if (!run) throw noSuchRun(id);
      return sendJSON(res, 200, runObject(run));
    }
    if (method !== 'GET') throw notAllowed(method, 'GET');
    const run = await store.get(id, owner);
    if (!run) throw noSuchRun(id);
    if (sub === undefined) return sendJSON(res, 200, runObject(run, { stats: statsObject(await evals.stats(run)) }));
    if (sub === 'results') {
      const page = await store.results(id, { limit: pageLimit(query, 100), after: cursor(query) });
      return sendJSON(res, 200, { object: 'list', data: page.data.map(resultObject), first_id: page.data[0]?.key ?? null, last_id: page.data.at(-1)?.key ?? null, has_more: page.hasMore });
    }
    if (sub === 'report') {
      const format = query.get('format') ?? 'json';
      if (format !== 'json' && format !== 'junit' && format !== 'html') throw badRequest(`Invalid 'format': expected 'json', 'junit' or 'html'.`, 'format');
      return await report(ctx, evals, res, run, format);
    }
    throw new HubError('not_found', `Unknown request URL: ${method} /v1/evals${rest.slice(0, 200)}.`, { code: 'unknown_url' });
  } catch (err) {
    const e = err instanceof SuiteError || err instanceof CompareError ? badRequest(err.message.slice(0, 4000), 'suite') : err;
    if (!(e instanceof HubError)) throw e;
    req.resume();
    sendJSON(res, e.status, openAIErrorBody(e), e.headers);
  }
}
