import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Collector } from '../../core/collect.js';
import { HubError, toHubError } from '../../core/errors.js';
import type { ChatEvent, Message } from '../../core/types.js';
import { responsesErrorBody, responsesErrorFormat, responsesStreamErrorFormat } from '../../protocols/openai-responses/errors.js';
import { collectedToResponse, ResponsesStreamRenderer } from '../../protocols/openai-responses/from-canonical.js';
import { responsesRequest } from '../../protocols/openai-responses/schema.js';
import { inputItemsToStore } from '../../protocols/openai-responses/items.js';
import { canonicalConversation, responsesRequestToCanonical } from '../../protocols/openai-responses/to-canonical.js';
import type { StoredItem, StoredResponse } from '../../protocols/openai-responses/ports.js';
import { validate } from '../../protocols/validate.js';
import type { ResponsesRequest } from '../../protocols/openai-responses/schema.js';
import type { PromptSize } from '../../gateway/admission.js';
import { startCall } from '../../gateway/call.js';
import type { Principal } from '../../tenancy/types.js';
import { estimateTextTokens, textTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { sendJSON } from '../http.js';
import { runRequest } from '../lifecycle.js';
import { respond, sseOpener } from '../respond.js';
import { fileSearchOf, groundInFiles } from './file-search.js';

function responseId(): string {
  return `resp_${randomUUID().replace(/-/g, '')}`;
}

/** The stored response `r` (under `id`), if this caller may see it: its own key's, or any for the admin. */
function owned(r: StoredResponse | undefined, id: string, principal: Principal): StoredResponse {
  if (!r || (principal.kind === 'key' && r.keyId !== principal.key.id)) {
    throw new HubError('not_found', `Response with id '${id}' not found.`, { code: 'response_not_found', param: 'previous_response_id' });
  }
  return r;
}

/** Whether an input item names another by reference (`type` is optional on references). */
function isReference(it: unknown): it is { id: unknown } {
  const o = it as { type?: unknown; role?: unknown };
  return o.type === 'item_reference' || (o.type == null && o.role === undefined);
}

/** The ids that `item_reference` inputs name (usually none). */
function referencedIds(input: ResponsesRequest['input']): string[] {
  const ids: string[] = [];
  if (Array.isArray(input)) for (const it of input as unknown[]) if (isReference(it)) ids.push(String(it.id));
  return ids;
}

const NO_ITEMS = (): undefined => undefined;

/**
 * Looks up the items `item_reference` inputs name, among the stored responses this caller may
 * see, once per id and request — before the request is converted, which then reads them from
 * memory.
 */
async function itemResolver(ctx: HubContext, principal: Principal, ids: readonly string[]): Promise<(id: string) => Record<string, unknown> | undefined> {
  const keyId = principal.kind === 'key' ? principal.key.id : undefined;
  const found = new Map<string, Record<string, unknown> | undefined>();
  for (const id of ids) if (!found.has(id)) found.set(id, await ctx.stores.responses.findItem(id, keyId));
  return (id) => found.get(id);
}

/** Whether the input names an item by reference that this hub has stored. */
function referencesStoredItem(input: ResponsesRequest['input'], resolve: (id: string) => unknown): boolean {
  if (!Array.isArray(input)) return false;
  return input.some((it) => {
    const o = it as { type?: unknown; id?: unknown; role?: unknown };
    return isReference(o) && typeof o.id === 'string' && resolve(o.id) !== undefined;
  });
}

/**
 * `POST /v1/responses`: OpenAI's Responses API in front of any model. Conversation state lives in
 * the hub's store, so `previous_response_id` works whatever the upstream; `store: false` keeps
 * nothing.
 */
export function createResponse(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  let renderer: ResponsesStreamRenderer | undefined;
  return runRequest(ctx, req, res, requestId, 'chat', responsesStreamErrorFormat(() => renderer), async (json, out, call, reply) => {
    const { principal } = call;
    const body = validate(responsesRequest, json);
    const stream = body.stream === true;
    const maxOutput = body.max_output_tokens ?? undefined;
    const target = ctx.registry.resolve(body.model);
    const refs = referencedIds(body.input);
    const resolveItem = refs.length === 0 ? NO_ITEMS : await itemResolver(ctx, principal, refs);
    const previous = body.previous_response_id ? await ctx.stores.responses.load(body.previous_response_id) : undefined;
    const keptHere = body.previous_response_id ? previous !== undefined : refs.length > 0 && referencesStoredItem(body.input, resolveItem);
    const fileSearch = fileSearchOf(body);
    // An upstream that speaks Responses itself gets the request as it is (it keeps its own
    // conversation state), unless the conversation so far (or an item it names) lives in the hub,
    // or the request searches vector stores the hub holds (OpenAI's own upstream included).
    if (!keptHere && !fileSearch && target.route.deployments.every((d) => d.model.passthrough?.('openai-responses') !== undefined)) {
      const raw = json as Record<string, unknown>;
      const started = await startCall(ctx, call, out, {
        endpoint: 'chat',
        model: body.model,
        target,
        stream,
        prompt: relayedPrompt(body, raw),
        maxOutput,
        relay: { format: 'openai-responses', request: { body: raw }, open: sseOpener(reply, requestId, out) },
      });
      return respond(reply, requestId, out, started, {});
    }
    const history = body.previous_response_id ? (owned(previous, body.previous_response_id, principal).history as Message[]) : [];
    let request = responsesRequestToCanonical(body, '', history, { resolveItem });
    let retrieval: Extract<ChatEvent, { type: 'retrieval' }> | undefined;
    if (fileSearch) ({ request, retrieval } = await groundInFiles(ctx, principal, fileSearch, request, call.cancel.signal));
    const id = responseId();
    const createdAt = Math.floor(Date.now() / 1000);
    const save = async (response: Record<string, unknown> | undefined, collected: Parameters<typeof canonicalConversation>[1]) => {
      if (body.store === false) return;
      const history = canonicalConversation(request, collected, id);
      const output = Array.isArray(response?.output) ? (response.output as StoredItem[]) : [];
      await ctx.stores.responses.save({ id, keyId: principal.kind === 'key' ? principal.key.id : undefined, response, history, input: inputItemsToStore(body.input, resolveItem), output });
    };
    const started = await startCall(ctx, call, out, { endpoint: 'chat', model: body.model, target, stream, canonical: request, maxOutput });
    await respond(reply, requestId, out, started, {
      async whole(collected) {
        const c = retrieval ? { ...collected, retrieval } : collected;
        const response = collectedToResponse(c, id, body, createdAt);
        await save(response, c);
        return response;
      },
      stream() {
        const r = (renderer = new ResponsesStreamRenderer(id, body, createdAt));
        const collector = new Collector();
        if (retrieval) collector.add(retrieval);
        return {
          start: () => r.start() + (retrieval ? r.render(retrieval) : ''),
          render(e) {
            collector.add(e);
            return r.render(e);
          },
          async end() {
            const tail = r.end();
            await save(r.response, collector.result());
            return tail;
          },
        };
      },
    });
  });
}

/**
 * A relayed request's prompt as sent (history kept upstream under previous_response_id is not in
 * it), like the canonical path's estimate: the input's text, or its items as JSON, and the
 * instructions; the body as sent bounds it (JSON escapes only add bytes).
 */
function relayedPrompt(body: ResponsesRequest, raw: Record<string, unknown>): PromptSize {
  const input = body.input;
  const estimate = estimateTextTokens(typeof input === 'string' ? input : JSON.stringify(input ?? '')) + (body.instructions ? estimateTextTokens(body.instructions) : 0);
  return { estimate, bound: () => textTokenBound(JSON.stringify(raw)) };
}

const INPUT_ITEMS = '/input_items';

/**
 * `GET /v1/responses/{id}/input_items`: the request's input items, a page at a time (`limit`
 * 1–100, default 20; `order` desc by default; `after` an item id), in the list shape of the API.
 */
async function listInputItems(ctx: HubContext, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const url = req.url ?? '';
  const q = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const bad = (param: string, message: string) => new HubError('bad_request', message, { param, code: 'invalid_request' });
  const limitText = q.get('limit');
  const limit = limitText === null ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw bad('limit', `Invalid 'limit': expected an integer from 1 to 100.`);
  const order = q.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw bad('order', `Invalid 'order': expected 'asc' or 'desc'.`);
  const after = q.get('after') ?? undefined;
  const page = await ctx.stores.responses.inputItems(id, { ...(after !== undefined && { after }), limit, order });
  if (!page) throw bad('after', `Invalid 'after': '${after!.slice(0, 100)}' is not an input item of response '${id}'.`);
  sendJSON(res, 200, {
    object: 'list',
    data: page.data,
    first_id: (page.data[0]?.id as string | undefined) ?? null,
    last_id: (page.data.at(-1)?.id as string | undefined) ?? null,
    has_more: page.hasMore,
  });
}

/** `GET` and `DELETE /v1/responses/{id}`, and `GET /v1/responses/{id}/input_items`. */
export async function storedResponse(ctx: HubContext, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  try {
    // Asks the shared store only when the cache misses (a key just made on another hub).
    const principal = await ctx.tenancy.authenticateShared(req.headers);
    const items = path.endsWith(INPUT_ITEMS) && req.method === 'GET';
    const id = items ? path.slice(0, -INPUT_ITEMS.length) : path;
    const r = owned(await ctx.stores.responses.load(id), id, principal);
    if (items) return await listInputItems(ctx, req, res, id);
    if (req.method === 'DELETE') {
      await ctx.stores.responses.delete(id);
      return sendJSON(res, 200, { id, object: 'response', deleted: true });
    }
    sendJSON(res, 200, r.response);
  } catch (err) {
    const e = toHubError(err);
    sendJSON(res, e.status, e.kind === 'not_found' ? responsesErrorBody(new HubError('not_found', e.message, { code: 'response_not_found' })) : responsesErrorFormat.body(e, ''));
  }
}
