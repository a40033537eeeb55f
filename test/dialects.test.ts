/**
 * A provider's dialect (thinking switches, reasoning fields) follows its kind, not its id: a
 * provider configured under an id of its own gets the dialect it names in its config, or the one
 * of the preset whose host its base URL is on, and then behaves exactly like the preset.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveProviders } from '../src/catalog/providers.js';
import type { ProviderSpec } from '../src/catalog/providers.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import type { ChatRequest } from '../src/core/types.js';
import { createProvider } from '../src/providers/create.js';
import { OpenAICompatibleProvider } from '../src/providers/openai-compatible/provider.js';
import { applyThinking } from '../src/providers/openai-compatible/thinking.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const CONFIG = `
providers:
  deepseek:                       # the preset itself
    apiKey: k
  my-deepseek:                    # another id, the dialect named
    baseURL: http://127.0.0.1:9/v1
    dialect: deepseek
  ds-mirror:                      # another id on DeepSeek's host: the dialect inferred
    baseURL: https://api.deepseek.com/v1
  kimi-intl:                      # another documented region of a preset
    baseURL: https://api.moonshot.ai/v1
  corp:                           # nothing known about it
    baseURL: https://llm.corp.example/v1
  local:                          # a local preset's port says nothing about the server there
    baseURL: http://127.0.0.1:8000/v1
  claude-proxy:                   # not OpenAI-compatible: no dialect
    type: anthropic
    baseURL: https://api.anthropic.com
  qwen:                           # a preset id may name another dialect
    dialect: vllm
`;

function specs(yaml = CONFIG): Map<string, ProviderSpec> {
  return resolveProviders(validateConfig(parse(yaml), {}), {});
}

describe('resolving a provider’s dialect', () => {
  it('comes from the preset, the config, or the base URL’s host, never from the id alone', () => {
    const s = specs();
    expect(s.get('deepseek')?.dialect).toBe('deepseek');
    expect(s.get('my-deepseek')?.dialect).toBe('deepseek');
    expect(s.get('ds-mirror')?.dialect).toBe('deepseek');
    expect(s.get('kimi-intl')?.dialect).toBe('kimi');
    expect(s.get('corp')?.dialect).toBeUndefined();
    expect(s.get('local')?.dialect).toBeUndefined();
    expect(s.get('claude-proxy')?.dialect).toBeUndefined();
    expect(s.get('qwen')?.dialect).toBe('vllm');
  });

  it('rejects a dialect the hub does not know, naming the key path', () => {
    let err: unknown;
    try {
      validateConfig(parse('providers:\n  corp:\n    baseURL: https://x.example/v1\n    dialect: klingon\n'), {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('providers.corp.dialect');
  });
});

describe('a DeepSeek under another id thinks like DeepSeek', () => {
  let upstream: OpenAIUpstream;
  beforeAll(async () => {
    upstream = await startOpenAIUpstream();
  });
  afterAll(() => upstream.close());

  /** The resolved provider, pointed at the loopback upstream (its dialect is what was resolved). */
  const provider = (id: string): OpenAICompatibleProvider => {
    const spec = specs().get(id)!;
    const p = createProvider({ ...spec, baseURL: upstream.baseURL });
    expect(p).toBeInstanceOf(OpenAICompatibleProvider);
    return p as OpenAICompatibleProvider;
  };
  const base = (model: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    model,
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    ...extra,
  });

  it.each(['deepseek', 'my-deepseek', 'ds-mirror'])('%s: a relayed body gets DeepSeek’s switch (the assertions of thinking.test.ts)', (id) => {
    const p = provider(id);
    // The same expectations as test/thinking.test.ts's `deepseek` block, through the provider.
    expect(p.relayBody('deepseek-v4-pro', base('deepseek-v4-pro', { reasoning_effort: 'high' }))).toEqual(
      base('deepseek-v4-pro', { thinking: { type: 'enabled' }, reasoning_effort: 'high' }),
    );
    expect(p.relayBody('deepseek-v4-flash', base('x', { reasoning_effort: 'minimal' })).reasoning_effort).toBe('low');
    expect(p.relayBody('deepseek-v4-flash', base('x', { reasoning_effort: 'max' })).reasoning_effort).toBe('max');
    expect(p.relayBody('deepseek-chat', base('deepseek-chat', { reasoning_effort: 'none' }))).toEqual(base('deepseek-chat', { thinking: { type: 'disabled' } }));
    expect(p.relayBody('deepseek-reasoner', base('deepseek-reasoner', { reasoning_effort: 'high' }))).toEqual(base('deepseek-reasoner', { reasoning_effort: 'high' }));
    expect(p.relayBody('deepseek-reasoner', base('deepseek-reasoner', { reasoning_effort: 'none' }))).toEqual(base('deepseek-reasoner'));
  });

  it('a provider with no dialect gets the body as the client sent it', () => {
    const body = base('deepseek-v4-pro', { reasoning_effort: 'high' });
    expect(provider('corp').relayBody('deepseek-v4-pro', body)).toEqual(body);
  });

  it.each(['my-deepseek', 'ds-mirror'])('%s: a canonical request reaches the upstream exactly as it does for deepseek', async (id) => {
    const requests: ChatRequest[] = [
      { model: 'deepseek-v4-pro', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], reasoning: { effort: 'high' } },
      { model: 'deepseek-chat', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], reasoning: { disabled: true } },
      {
        model: 'deepseek-v4-flash',
        reasoning: { effort: 'minimal' },
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
          { role: 'assistant', content: '', reasoning: [{ type: 'reasoning', text: 'call the tool' }], toolCalls: [{ id: 'c1', name: 'w', arguments: '{}' }] },
          { role: 'tool', toolCallId: 'c1', content: 'sunny' },
        ],
      },
    ];
    const sent = async (p: OpenAICompatibleProvider, r: ChatRequest): Promise<Record<string, unknown>> => {
      const from = upstream.requests.length;
      for await (const _ of p.stream(r, AbortSignal.timeout(10_000))) void _;
      expect(upstream.requests.length).toBe(from + 1);
      return upstream.requests[from]!.body;
    };
    for (const r of requests) {
      const mine = await sent(provider(id), r);
      expect(mine).toEqual(await sent(provider('deepseek'), r));
      // …which is DeepSeek's dialect: the body the `deepseek` switch makes of the plain one.
      const plain = await sent(provider('corp'), r);
      expect(mine).toEqual(applyThinking('deepseek', r.model, plain, r.reasoning));
    }
    const last = await sent(provider(id), requests[2]!);
    expect(last).toMatchObject({ thinking: { type: 'enabled' }, reasoning_effort: 'low' });
    expect((last.messages as Record<string, unknown>[])[1]).toMatchObject({ role: 'assistant', reasoning_content: 'call the tool' });
  });
});

describe('through the hub', () => {
  let upstream: OpenAIUpstream;
  let hub: TestHub;
  beforeAll(async () => {
    upstream = await startOpenAIUpstream();
    hub = await startTestHub(`
providers:
  my-deepseek:
    baseURL: ${upstream.baseURL}
    dialect: deepseek
  plain:
    baseURL: ${upstream.baseURL}
`);
  });
  afterAll(async () => {
    await hub?.dispose();
    await upstream?.close();
  });

  it('a configured dialect reaches the upstream on the relayed path, and only for that provider', async () => {
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create({ model: 'my-deepseek/deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], reasoning_effort: 'minimal' });
    expect(upstream.requests.at(-1)!.body).toMatchObject({ model: 'deepseek-v4-flash', thinking: { type: 'enabled' }, reasoning_effort: 'low' });
    await client.chat.completions.create({ model: 'plain/deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], reasoning_effort: 'minimal' });
    const plain = upstream.requests.at(-1)!.body;
    expect(plain.reasoning_effort).toBe('minimal');
    expect(plain.thinking).toBeUndefined();
  });
});
