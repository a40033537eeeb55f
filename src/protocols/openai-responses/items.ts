import { randomUUID } from 'node:crypto';
import type { ResponsesRequest } from './schema.js';

type Json = Record<string, unknown>;

/** Id prefixes of input items the client sent without an id. */
const PREFIX: Record<string, string> = {
  message: 'msg',
  function_call: 'fc',
  function_call_output: 'fco',
  custom_tool_call: 'ctc',
  custom_tool_call_output: 'ctco',
  reasoning: 'rs',
};

function itemId(type: string): string {
  return `${PREFIX[type] ?? 'item'}_${randomUUID().replace(/-/g, '')}`;
}

/** A message's content as a list of parts, as the API lists input items. */
function contentParts(role: unknown, content: unknown): unknown {
  if (typeof content !== 'string') return content;
  return role === 'assistant' ? [{ type: 'output_text', text: content, annotations: [] }] : [{ type: 'input_text', text: content }];
}

/**
 * A request's input as the items `GET /v1/responses/{id}/input_items` lists and `item_reference`
 * can name later: a string input becomes one user message, every item has an id (the client's,
 * or a new one), messages have their content as parts, and a reference is the item it names.
 * `resolve` returns the stored item a reference names (the conversion to canonical has already
 * refused unknown ones).
 */
export function inputItemsToStore(input: ResponsesRequest['input'], resolve: (id: string) => Json | undefined): (Json & { id: string })[] {
  if (input === undefined) return [];
  if (typeof input === 'string') {
    return [{ id: itemId('message'), type: 'message', role: 'user', content: [{ type: 'input_text', text: input }], status: 'completed' }];
  }
  const out: (Json & { id: string })[] = [];
  for (const raw of input) {
    const it = raw as Json;
    const type = typeof it.type === 'string' ? it.type : 'role' in it ? 'message' : 'item_reference';
    if (type === 'item_reference') {
      const found = resolve(String(it.id));
      if (found && typeof found.id === 'string') out.push(found as Json & { id: string });
      continue;
    }
    const id = typeof it.id === 'string' && it.id !== '' ? it.id : itemId(type);
    if (type === 'message') out.push({ ...it, id, type, content: contentParts(it.role, it.content), status: it.status ?? 'completed' });
    else out.push({ ...it, id, type });
  }
  return out;
}
