import { expect } from 'vitest';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { RecordedRequest } from '../upstreams/openai.js';

/** The loopback upstream formats the matrix runs against, and what each must receive back. */
export interface UpstreamKind {
  readonly kind: string;
  start(): Promise<{ baseURL: string; requests: RecordedRequest[]; close(): Promise<void> }>;
  /** The assistant turn with tool calls must carry its reasoning back where the format allows it. */
  checkReasoningSentBack(body: any, client: 'openai' | 'anthropic'): void;
}

export const UPSTREAM_KINDS: UpstreamKind[] = [
  {
    kind: 'openai',
    start: () => startOpenAIUpstream(),
    checkReasoningSentBack(body) {
      const assistant = body.messages.find((m: any) => m.role === 'assistant');
      expect(assistant.reasoning_content).toBe('I need both tools.');
      expect(assistant.tool_calls).toHaveLength(2);
    },
  },
];
