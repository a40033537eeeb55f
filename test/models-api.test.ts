import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub(
    `providers:
  deepseek: { apiKey: "\${DS}" }
pricing:
  cnyPerUsd: 8
  models:
    deepseek/deepseek-v4-pro: { input: 1, output: 2, currency: USD }
`,
    { DS: 'sk-x' },
  );
});

afterAll(async () => {
  await hub?.dispose();
});

describe('GET /v1/models with the catalog', () => {
  it('lists catalog models of enabled providers with limits, modalities and USD prices', async () => {
    const { data } = (await (await fetch(`${hub.url}/v1/models`)).json()) as { data: any[] };
    const flash = data.find((m) => m.id === 'deepseek/deepseek-v4-flash');
    expect(flash).toMatchObject({
      object: 'model',
      owned_by: 'deepseek',
      context_window: 1_048_576,
      max_output_tokens: 393_216,
      supports_tools: true,
      modalities: { input: ['text', 'image'], output: ['text'] },
      // CNY 1 / 4 / 0.02 per million at 8 CNY per USD
      pricing: { currency: 'USD', input_per_million: 0.125, output_per_million: 0.5, cached_input_per_million: 0.0025 },
    });
    // A config price overrides the catalog's.
    expect(data.find((m) => m.id === 'deepseek/deepseek-v4-pro').pricing).toEqual({ currency: 'USD', input_per_million: 1, output_per_million: 2 });
    // No other provider is enabled, so none of theirs is listed.
    expect(data.every((m) => m.owned_by === 'deepseek')).toBe(true);
  });
});
