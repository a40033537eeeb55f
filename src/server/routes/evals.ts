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
import type { CellResult, RunResult } from '../../eval/run.js';
import { runOwner } from '../../eval/service.js';
import type { EvalRunService } from '../../eval/service.js';
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

/** The run object of the API. */
function runObject(r: StoredRun, stats?: Record<string, unknown>): Record<string, unknown> {
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
  if (format === 'junit') return sendRaw(res, 200, junitReport(result), { 'content-type': 'application/xml; charset=utf-8' });
  // The report runs no script; a CSP says so to the browser too.
  return sendRaw(res, 200, htmlReport(result), { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" });
}

/**
 * Per model (provider) of the suite, for the console's quality-versus-cost chart: the run's
 * results are paged, so what needs all of them is summed here. `cases`: test × prompt cases
 * with every repetition finished; `pass_rate`: of those, the share that passed all of them
 * (pass^N); `mean_score` over finished cells; `cost_usd`: what its answers cost (a cached
 * answer counts its original cost, so runs with and without the cache compare), grader calls
 * not included.
 */
function modelStats(r: RunResult): Record<string, unknown>[] {
  const per = r.suite.providers.map((p) => ({ id: p.id, label: p.label, cases: 0, passed: 0, cells: 0, scoreSum: 0, costSum: 0, answered: new Set<string>() }));
  for (const c of r.cases) {
    const m = per[c.providerIdx];
    if (!m || c.runs < r.repeat) continue;
    m.cases++;
    if (c.passAll) m.passed++;
  }
  for (const c of r.results) {
    const m = per[c.providerIdx];
    if (!m) continue;
    m.cells++;
    m.scoreSum += c.score;
    m.costSum += c.cost ?? 0;
    m.answered.add(`${c.testIdx}:${c.promptIdx}`);
  }
  return per.map((m) => ({
    provider: m.id,
    label: m.label,
    cases: m.cases,
    passed: m.passed,
    pass_rate: m.cases ? m.passed / m.cases : null,
    mean_score: m.cells ? m.scoreSum / m.cells : null,
    cost_usd: m.costSum,
    mean_cost_usd: m.answered.size ? m.costSum / m.answered.size : null,
  }));
}

async function stats(evals: EvalRunService, run: StoredRun): Promise<Record<string, unknown>> {
  const r = await evals.runResult(run);
  const errors = r.results.filter((c) => c.error).length;
  const successes = r.results.filter((c) => c.success).length;
  return {
    successes,
    failures: r.results.length - successes - errors,
    errors,
    cases: r.cases.length,
    pass_rate: r.passRate,
    threshold: r.suite.threshold,
    threshold_met: r.thresholdMet,
    tests: r.suite.tests.length,
    prompts: r.suite.prompts.map((p) => p.label),
    models: modelStats(r),
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
      return sendJSON(res, 200, { object: 'list', data: page.data.map((r) => runObject(r)), first_id: page.data[0]?.id ?? null, last_id: page.data.at(-1)?.id ?? null, has_more: page.hasMore });
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
    if (sub === undefined) return sendJSON(res, 200, runObject(run, await stats(evals, run)));
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
