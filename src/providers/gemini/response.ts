import { randomBytes } from 'node:crypto';
import { HubError } from '../../core/errors.js';
import type { ChatEvent, FinishReason } from '../../core/types.js';
import { usageFromGemini } from './usage.js';
import type { GeminiCandidate, GeminiPart, GeminiResponse, GeminiSafetyRating, GeminiUsageMetadata } from './wire.js';
import { METADATA_KEY } from './wire.js';

/** Finish reasons that mean a filter (safety, recitation, blocklist, …) ended the answer. */
const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/** Finish reasons that mean the model produced a function call the API could not accept. */
const BAD_CALL = new Set(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL']);

/**
 * Gemini finishReason → canonical. Gemini has no tool-call reason: a candidate that made function
 * calls ends with STOP, so `madeCalls` turns that into 'tool_calls'.
 */
function finishReasonFromGemini(reason: string, madeCalls: boolean): FinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (FILTERED.has(reason)) return 'content_filter';
  return madeCalls ? 'tool_calls' : 'stop';
}

export interface GeminiDecoderOptions {
  /** Id for a function call that arrives without one (default: `call_` + 16 random characters). */
  readonly newCallId?: () => string;
  /** Provider id, recorded on the errors the decoder throws. */
  readonly provider?: string;
}

/**
 * Turns the stream of GenerateContentResponse chunks into canonical events, in order:
 * - the first chunk → `start` {id: responseId, model: modelVersion or the requested name};
 * - a part with `thoughtSignature` → a reasoning event carrying only that signature, right before
 *   the events of the part itself (request.ts explains how it goes back);
 * - `thought: true` parts → reasoning text; other text parts → text (choice = candidate index);
 * - each functionCall part → one complete tool_call (Gemini never splits a call across chunks),
 *   with the call's own `id` or a new one, and `index` counting the candidate's calls from 0;
 * - finishReason → finish (see finishReasonFromGemini).
 * usageMetadata is cumulative and repeated: the last one becomes the single usage event that
 * `finish()` returns once the stream has ended.
 *
 * It throws a content_filter HubError instead of an empty answer when the prompt was blocked
 * (promptFeedback.blockReason, no candidates) or when a filter ended the answer before any
 * content at all, and an upstream HubError when the only output was a malformed function call.
 */
export class GeminiStreamDecoder {
  private started = false;
  private usage: GeminiUsageMetadata | undefined;
  /** Candidates that have produced text, reasoning text or a call. */
  private readonly produced = new Set<number>();
  private readonly calls = new Map<number, number>();
  private readonly ended = new Set<number>();
  private readonly newCallId: () => string;
  private readonly provider: string | undefined;

  constructor(
    private readonly requestedModel: string,
    o: GeminiDecoderOptions = {},
  ) {
    this.newCallId = o.newCallId ?? (() => `call_${randomBytes(12).toString('base64url')}`);
    this.provider = o.provider;
  }

  /** Whether any candidate has reported a finishReason: a stream without one was cut short. */
  get finished(): boolean {
    return this.ended.size > 0;
  }

  /** One chunk → the events it completes. */
  push(chunk: GeminiResponse): ChatEvent[] {
    const feedback = chunk.promptFeedback;
    if (feedback?.blockReason && !chunk.candidates?.length) {
      const flagged = flaggedCategories(feedback.safetyRatings);
      throw new HubError(
        'content_filter',
        `Gemini blocked the prompt (${feedback.blockReason})${flagged}${feedback.blockReasonMessage ? `: ${feedback.blockReasonMessage}` : ''}`,
        { status: 400, ...(this.provider && { provider: this.provider }) },
      );
    }
    const events: ChatEvent[] = [];
    if (!this.started) {
      this.started = true;
      events.push({ type: 'start', id: chunk.responseId ?? '', model: chunk.modelVersion ?? this.requestedModel });
    }
    if (chunk.usageMetadata) this.usage = chunk.usageMetadata;
    chunk.candidates?.forEach((c, position) => {
      const choice = c.index ?? position;
      for (const part of c.content?.parts ?? []) this.part(choice, part, events);
      if (c.finishReason) this.end(choice, c, events);
    });
    return events;
  }

  /** After the stream: the usage event, when the upstream reported usage. */
  finish(): ChatEvent[] {
    return this.usage ? [{ type: 'usage', usage: usageFromGemini(this.usage) }] : [];
  }

  private part(choice: number, p: GeminiPart, events: ChatEvent[]): void {
    if (p.thoughtSignature) events.push({ type: 'reasoning', choice, text: '', providerMetadata: { [METADATA_KEY]: { signature: p.thoughtSignature } } });
    if (p.functionCall) {
      const index = this.calls.get(choice) ?? 0;
      this.calls.set(choice, index + 1);
      this.produced.add(choice);
      events.push({
        type: 'tool_call',
        choice,
        index,
        id: p.functionCall.id || this.newCallId(),
        name: p.functionCall.name,
        arguments: JSON.stringify(p.functionCall.args ?? {}),
      });
      return;
    }
    if (typeof p.text === 'string' && p.text !== '') {
      this.produced.add(choice);
      events.push(p.thought ? { type: 'reasoning', choice, text: p.text } : { type: 'text', choice, text: p.text });
    }
    // inlineData, executableCode, codeExecutionResult: nothing the canonical form carries.
  }

  private end(choice: number, c: GeminiCandidate, events: ChatEvent[]): void {
    if (this.ended.has(choice)) return;
    this.ended.add(choice);
    const reason = c.finishReason ?? 'STOP';
    const nothingYet = this.produced.size === 0;
    if (FILTERED.has(reason) && nothingYet) {
      throw new HubError(
        'content_filter',
        `Gemini blocked the answer (${reason})${flaggedCategories(c.safetyRatings)}${c.finishMessage ? `: ${c.finishMessage}` : ''}`,
        { status: 400, ...(this.provider && { provider: this.provider }) },
      );
    }
    if (BAD_CALL.has(reason) && nothingYet) {
      throw new HubError('upstream', `Gemini produced an invalid function call (${reason})${c.finishMessage ? `: ${c.finishMessage}` : ''}`, {
        ...(this.provider && { provider: this.provider }),
      });
    }
    events.push({ type: 'finish', choice, reason: finishReasonFromGemini(reason, (this.calls.get(choice) ?? 0) > 0) });
  }
}

function flaggedCategories(ratings: readonly GeminiSafetyRating[] | undefined): string {
  const flagged = (ratings ?? []).filter((r) => r.blocked && r.category).map((r) => r.category!);
  return flagged.length > 0 ? ` for ${flagged.join(', ')}` : '';
}
