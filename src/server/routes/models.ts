import type { ServerResponse } from 'node:http';
import { HubError } from '../../core/errors.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import type { ModelEntry } from '../../routing/registry.js';
import type { HubContext } from '../context.js';
import { sendJSON } from '../http.js';

function toWire(m: ModelEntry, created: number) {
  return { id: m.id, object: 'model', created, owned_by: m.ownedBy };
}

export function listModels(ctx: HubContext, res: ServerResponse): void {
  sendJSON(res, 200, { object: 'list', data: ctx.registry.list().map((m) => toWire(m, ctx.startedAt)) });
}

/** `GET /v1/models/{id}`; ids may contain slashes (`deepseek/deepseek-chat`). */
export function getModel(ctx: HubContext, res: ServerResponse, id: string): void {
  const listed = ctx.registry.list().find((m) => m.id === id);
  if (listed) return sendJSON(res, 200, toWire(listed, ctx.startedAt));
  try {
    const t = ctx.registry.resolve(id);
    sendJSON(res, 200, toWire({ id, ownedBy: t.route.deployments[0]!.provider, kind: 'chat' }, ctx.startedAt));
  } catch (err) {
    const e = err instanceof HubError ? err : new HubError('not_found', `The model '${id}' does not exist.`);
    sendJSON(res, e.status, openAIErrorBody(e));
  }
}
