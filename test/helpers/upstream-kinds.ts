import { expect } from 'vitest';
import { startAnthropicUpstream } from '../upstreams/anthropic.js';
import { startGeminiUpstream } from '../upstreams/gemini.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { LoopbackUpstream } from '../upstreams/loopback.js';

/** The loopback upstream formats the matrix runs against, and what each must receive back. */
export interface UpstreamKind {
  readonly kind: string;
  start(): Promise<LoopbackUpstream>;
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

/** One upstream of every kind, and the hub configuration that reaches them. */
export interface KindUpstreams {
  /** Each kind's upstream, by kind (`openai`, `anthropic`, `gemini`). */
  readonly byKind: Record<string, LoopbackUpstream>;
  /** A `providers:` section naming each one `<kind>-up`, with its type and base URL. */
  readonly yaml: string;
  close(): Promise<void>;
}

/** Starts one upstream of every kind in UPSTREAM_KINDS, for a hub that speaks to all of them. */
export async function startKindUpstreams(): Promise<KindUpstreams> {
  const byKind: Record<string, LoopbackUpstream> = {};
  let yaml = 'providers:\n';
  for (const k of UPSTREAM_KINDS) {
    const u = await k.start();
    byKind[k.kind] = u;
    yaml += `  ${k.kind}-up:\n    type: ${k.kind}\n    baseURL: ${u.baseURL}\n`;
  }
  return {
    byKind,
    yaml,
    async close() {
      for (const u of Object.values(byKind)) await u.close();
    },
  };
}
