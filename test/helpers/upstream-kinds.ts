import { expect } from 'vitest';
import { startAnthropicUpstream } from '../upstreams/anthropic.js';
import { startGeminiUpstream } from '../upstreams/gemini.js';
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
  {
    kind: 'anthropic',
    start: () => startAnthropicUpstream(),
    checkReasoningSentBack(body, client) {
      const assistant = body.messages.find((m: any) => m.role === 'assistant');
      const thinking = assistant.content.filter((b: any) => b.type === 'thinking');
      // Anthropic verifies signatures: signed thinking goes back byte for byte, unsigned is dropped.
      expect(thinking).toEqual(client === 'anthropic' ? [{ type: 'thinking', thinking: 'I need both tools.', signature: 'sig-client-1' }] : []);
      expect(assistant.content.filter((b: any) => b.type === 'tool_use').map((b: any) => b.name)).toEqual(['get_weather', 'get_time']);
      const results = body.messages.at(-1).content.filter((b: any) => b.type === 'tool_result');
      expect(results).toHaveLength(2); // parallel results in one user message
    },
  },
  {
    kind: 'gemini',
    start: () => startGeminiUpstream(),
    checkReasoningSentBack(body) {
      const model = body.contents.find((c: any) => c.role === 'model');
      expect(model.parts.filter((p: any) => p.functionCall).map((p: any) => p.functionCall.name)).toEqual(['get_weather', 'get_time']);
      const responses = body.contents.at(-1).parts.filter((p: any) => p.functionResponse);
      expect(responses.map((p: any) => p.functionResponse.name)).toEqual(['get_weather', 'get_time']);
    },
  },
];
