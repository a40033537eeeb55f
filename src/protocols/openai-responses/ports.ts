/**
 * What the Responses API needs from storage: stored responses (for GET /v1/responses/{id} and
 * `previous_response_id`) and their items, one row each — the request's input items (with the
 * ids the hub gave those that came without one) and the response's output items — which serve
 * `item_reference` inputs and `GET /v1/responses/{id}/input_items`.
 */

export interface StoredItem {
  readonly id: string;
  readonly [k: string]: unknown;
}

export interface StoredResponse {
  readonly keyId: string | null;
  readonly response: unknown;
  /** The canonical conversation so far, continued by `previous_response_id`. */
  readonly history: unknown;
}

export interface InputItemsPage {
  readonly data: Record<string, unknown>[];
  readonly hasMore: boolean;
}

export interface ResponseStore {
  /** Stores a response and its items; replaces any kept under the same id. */
  save(r: { readonly id: string; readonly keyId: string | undefined; readonly response: unknown; readonly history: unknown; readonly input: readonly StoredItem[]; readonly output: readonly StoredItem[] }): Promise<void>;
  load(id: string): Promise<StoredResponse | undefined>;
  /** Deletes a response and its items. */
  delete(id: string): Promise<void>;
  /**
   * The newest stored item with this id that the caller may see: one of its own key's responses
   * (`keyId`), or any when `keyId` is undefined (the admin, or a hub without keys).
   */
  findItem(id: string, keyId: string | undefined): Promise<Record<string, unknown> | undefined>;
  /**
   * One page of a response's input items, in `order`, after the item `after` (undefined: from
   * the start). Undefined when `after` names no input item of this response.
   */
  inputItems(responseId: string, o: { readonly after?: string; readonly limit: number; readonly order: 'asc' | 'desc' }): Promise<InputItemsPage | undefined>;
  /** Deletes responses and items stored before `before` (unix ms). */
  prune(before: number): Promise<void>;
}
