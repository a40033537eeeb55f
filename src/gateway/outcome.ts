import type { Collected } from '../core/collect.js';
import type { ErrorKind, HubError } from '../core/errors.js';
import type { ChatEvent, Usage } from '../core/types.js';
import type { Attempt } from '../routing/router.js';
import type { Ticket } from './admission.js';
import type { Hooked } from './hooks.js';

/** What one call did, filled in as it goes and recorded whatever happens. */
export interface Outcome {
  model: string;
  /** The attempt that answered (or failed last). */
  attempt: Attempt | undefined;
  stream: boolean;
  status: number;
  errorKind: ErrorKind | undefined;
  /** The error the call ended with, for post-hooks (its kind and status are above). */
  error: HubError | undefined;
  usage: Usage | undefined;
  /** performance.now() of the first token. */
  firstTokenAt: number | undefined;
  /** Set once the call was admitted against its key's limits. */
  ticket: Ticket | undefined;
  /** The prompt as text, for counting tokens when an upstream reports no usage. */
  promptText: (() => string) | undefined;
  /** Output the caller received, collected only for counting when no usage arrives. */
  outputText: string;
  /** A virtual model's sub-calls. */
  trace: Collected['trace'];
  /** The call's hooks and what they see of it, when the gateway has hooks (gateway/hooks.ts). */
  hooked: Hooked | undefined;
}

export function newOutcome(): Outcome {
  return { model: '', attempt: undefined, stream: false, status: 200, errorKind: undefined, error: undefined, usage: undefined, firstTokenAt: undefined, ticket: undefined, promptText: undefined, outputText: '', trace: undefined, hooked: undefined };
}

/** Keeps the outcome current as a canonical stream goes by: usage, first token, text for counting. */
export function noteEvent(out: Outcome, e: ChatEvent): void {
  switch (e.type) {
    case 'usage':
      out.usage = e.usage;
      out.outputText = '';
      return;
    case 'text':
    case 'reasoning':
      if (out.firstTokenAt === undefined) out.firstTokenAt = performance.now();
      if (!out.usage) out.outputText += e.text;
      return;
    case 'tool_call':
      if (out.firstTokenAt === undefined) out.firstTokenAt = performance.now();
      if (!out.usage) out.outputText += (e.name ?? '') + e.arguments;
      return;
    case 'trace':
      out.trace = { steps: e.steps, ...(e.summary && { summary: e.summary }) };
      return;
    default:
      return;
  }
}
