import { describe, expect, it } from 'vitest';
import { resolveProviders } from '../src/catalog/providers.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { resolveSettings } from '../src/config/settings.js';
import { assembleFrom } from '../src/server/assemble.js';
import { parse } from 'yaml';

function problems(yaml: string, env: Record<string, string> = {}): string {
  try {
    const c = validateConfig(parse(yaml), env);
    assembleFrom(c, resolveProviders(c, env).values());
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config validation names the key path and what was expected', () => {
  it('wrong types and unknown keys', () => {
    const msg = problems(`
server:
  port: "eighty"
providers:
  corp:
    baseURL: not-a-url
    timeoutMs: -5
    colour: blue
`);
    expect(msg).toContain('server.port: expected number');
    expect(msg).toContain('providers.corp.baseURL: expected an http(s) URL');
    expect(msg).toContain('providers.corp.timeoutMs');
    expect(msg).toContain("providers.corp: unknown key 'colour'");
  });

  it('a custom provider needs a base URL; a preset id does not', () => {
    expect(problems('providers:\n  corp:\n    apiKey: x\n')).toContain('providers.corp.baseURL: required');
    const c = validateConfig(parse('providers:\n  deepseek:\n    apiKey: k\n'), {});
    expect(resolveProviders(c, {}).get('deepseek')?.baseURL).toBe('https://api.deepseek.com/v1');
  });

  it('a model on a provider that is not enabled', () => {
    expect(problems('models:\n  chat:\n    provider: deepseek\n    model: deepseek-chat\n')).toContain(
      "models.chat.provider: provider 'deepseek' is not enabled",
    );
  });

  it('an alias that leads nowhere', () => {
    expect(problems('aliases:\n  fast: nowhere/model\n')).toContain("aliases.fast: target 'nowhere/model' is not a model this hub serves");
  });

  it('env interpolation: missing variables are named, values never printed', () => {
    const secret = 'sk-very-secret-value-123456';
    const msg = problems(
      `providers:\n  corp:\n    baseURL: \${CORP_URL}\n    apiKey: \${CORP_KEY}\n    timeoutMs: "${secret}"\n`,
      { CORP_KEY: secret },
    );
    expect(msg).toContain('providers.corp.baseURL: environment variable CORP_URL is not set');
    expect(msg).not.toContain(secret);
    const ok = validateConfig(parse('providers:\n  corp:\n    baseURL: ${CORP_URL:-http://127.0.0.1:9/v1}\n    apiKey: ${CORP_KEY}\n'), { CORP_KEY: secret });
    expect(ok.providers?.corp).toEqual({ baseURL: 'http://127.0.0.1:9/v1', apiKey: secret });
  });
});

describe('zero-config presets', () => {
  it('enables a cloud preset when its key variable is set, with a base URL override', () => {
    const specs = resolveProviders({}, { DEEPSEEK_API_KEY: 'k1', DASHSCOPE_API_KEY: 'k2', DEEPSEEK_BASE_URL: 'https://proxy.corp/deepseek/v1/' });
    expect([...specs.keys()].sort()).toEqual(['deepseek', 'qwen']);
    expect(specs.get('deepseek')).toMatchObject({ baseURL: 'https://proxy.corp/deepseek/v1', apiKey: 'k1' });
    expect(specs.get('qwen')?.baseURL).toBe('https://dashscope.aliyuncs.com/compatible-mode/v1');
  });

  it("uses a preset's Anthropic endpoint only on the preset's own host", () => {
    // Default host: Anthropic clients are served by the provider's own Anthropic endpoint.
    expect(resolveProviders({}, { DEEPSEEK_API_KEY: 'k', MOONSHOT_API_KEY: 'k' }).get('kimi')?.anthropicBaseURL).toBe('https://api.moonshot.cn/anthropic');
    expect(resolveProviders({}, { DEEPSEEK_API_KEY: 'k' }).get('deepseek')?.anthropicBaseURL).toBe('https://api.deepseek.com/anthropic');
    // Pointed at a proxy or another region (by env or by config), nothing may go around it.
    expect(resolveProviders({}, { DEEPSEEK_API_KEY: 'k', DEEPSEEK_BASE_URL: 'https://proxy.corp/deepseek/v1' }).get('deepseek')?.anthropicBaseURL).toBeUndefined();
    const moved = validateConfig(parse('providers:\n  kimi:\n    baseURL: https://api.moonshot.ai/v1\n    apiKey: k\n'), {});
    expect(resolveProviders(moved, {}).get('kimi')?.anthropicBaseURL).toBeUndefined();
    // Unless the config names the Anthropic endpoint for the new host too.
    const both = validateConfig(parse('providers:\n  kimi:\n    baseURL: https://api.moonshot.ai/v1\n    anthropicBaseURL: https://api.moonshot.ai/anthropic/\n    apiKey: k\n'), {});
    expect(resolveProviders(both, {}).get('kimi')?.anthropicBaseURL).toBe('https://api.moonshot.ai/anthropic');
    // A config entry that keeps the preset's host keeps its Anthropic endpoint.
    const same = validateConfig(parse('providers:\n  deepseek:\n    apiKey: k\n'), {});
    expect(resolveProviders(same, {}).get('deepseek')?.anthropicBaseURL).toBe('https://api.deepseek.com/anthropic');
  });

  it('enables a local server by its base URL variable', () => {
    const specs = resolveProviders({}, { VLLM_BASE_URL: 'http://10.0.0.5:8000/v1' });
    expect(specs.get('vllm')).toMatchObject({ baseURL: 'http://10.0.0.5:8000/v1', apiKey: undefined });
  });

  it('has every major OpenAI-compatible provider', () => {
    const env = Object.fromEntries(
      ['OPENAI_API_KEY', 'DEEPSEEK_API_KEY', 'DASHSCOPE_API_KEY', 'ZHIPUAI_API_KEY', 'MOONSHOT_API_KEY', 'ARK_API_KEY', 'MINIMAX_API_KEY',
        'SILICONFLOW_API_KEY', 'QIANFAN_API_KEY', 'HUNYUAN_API_KEY', 'SPARK_API_PASSWORD', 'OPENROUTER_API_KEY'].map((k) => [k, 'x']),
    );
    expect([...resolveProviders({}, env).keys()].sort()).toEqual(
      ['deepseek', 'doubao', 'glm', 'hunyuan', 'kimi', 'minimax', 'openai', 'openrouter', 'qianfan', 'qwen', 'siliconflow', 'spark'],
    );
  });

  it('resolves `provider/model` for any model name, the first slash splitting', () => {
    const r = assembleFrom({}, resolveProviders({}, { OPENROUTER_API_KEY: 'x' }).values()).registry;
    const t = r.resolve('openrouter/anthropic/claude-sonnet-4');
    expect(t.route.deployments[0]!.provider).toBe('openrouter');
    expect(t.route.deployments[0]!.upstreamModel).toBe('anthropic/claude-sonnet-4');
  });
});

describe('settings precedence', () => {
  it('flags beat env beat config beat defaults', () => {
    const config = { server: { port: 5000, host: '0.0.0.0', dataDir: '/cfg' } };
    expect(resolveSettings({}, {}, {})).toMatchObject({ host: '127.0.0.1', port: 4000, dataDir: '.baimo' });
    expect(resolveSettings({}, {}, config)).toMatchObject({ host: '0.0.0.0', port: 5000, dataDir: '/cfg' });
    expect(resolveSettings({}, { BAIMO_PORT: '6000', BAIMO_HOST: '::1', BAIMO_DATA_DIR: '/env' }, config)).toMatchObject({ host: '::1', port: 6000, dataDir: '/env' });
    expect(resolveSettings({ port: '7000', host: 'h', dataDir: '/flag' }, { BAIMO_PORT: '6000' }, config)).toMatchObject({ host: 'h', port: 7000, dataDir: '/flag' });
    expect(() => resolveSettings({}, { BAIMO_PORT: 'x' }, {})).toThrow(/BAIMO_PORT: expected a port number/);
  });
});

describe('the shared store settings', () => {
  it('take the env over the file, check the scheme without echoing the URL, and refuse Redis alone', () => {
    const file = validateConfig(parse('store: { url: "postgres://f@db:5432/baimo" }\nredis: { url: "redis://r:6379" }\n'), {});
    expect(resolveSettings({}, {}, file)).toMatchObject({ databaseUrl: 'postgres://f@db:5432/baimo', redisUrl: 'redis://r:6379' });
    expect(resolveSettings({}, { BAIMO_DATABASE_URL: 'postgresql://e@db/x' }, file).databaseUrl).toBe('postgresql://e@db/x');
    expect(resolveSettings({}, {}, {})).toMatchObject({ databaseUrl: undefined, redisUrl: undefined });
    const wrong = (env: Record<string, string>) => {
      try {
        resolveSettings({}, env, {});
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    const mysql = wrong({ BAIMO_DATABASE_URL: 'mysql://root:hunter2-secret@db/x' });
    expect(mysql).toContain('BAIMO_DATABASE_URL: expected a postgres://');
    expect(mysql).not.toContain('hunter2-secret');
    expect(wrong({ BAIMO_DATABASE_URL: 'not a url with-secret' })).not.toContain('with-secret');
    expect(wrong({ BAIMO_DATABASE_URL: 'postgres://db/x', BAIMO_REDIS_URL: 'http://:pw-secret@r' })).not.toContain('pw-secret');
    expect(wrong({ BAIMO_REDIS_URL: 'redis://r:6379' })).toContain('set BAIMO_DATABASE_URL');
    // In the file: a wrong scheme is a config error too.
    let fileErr: unknown;
    try {
      validateConfig(parse('store: { url: "mysql://root:file-secret-9@db/x" }\n'), {});
    } catch (err) {
      fileErr = err;
    }
    expect(fileErr).toBeInstanceOf(ConfigError);
    expect((fileErr as Error).message).toContain('store.url');
    expect((fileErr as Error).message).not.toContain('file-secret-9');
  });
});

describe('Ollama detection', () => {
  it('enables Ollama with its model list when it answers, and stays quiet when it does not', async () => {
    const { startOpenAIUpstream } = await import('./upstreams/openai.js');
    const { detectOllama } = await import('../src/catalog/providers.js');
    const up = await startOpenAIUpstream();
    try {
      const found = await detectOllama({}, 1000, up.baseURL);
      expect(found).toMatchObject({ id: 'ollama', baseURL: up.baseURL, source: 'detected' });
      expect(found?.models).toContain('gpt-4o-mini');
      expect(await detectOllama({ OLLAMA_BASE_URL: up.baseURL }, 1000, up.baseURL)).toBeUndefined(); // configured explicitly instead
    } finally {
      await up.close();
    }
    expect(await detectOllama({}, 300, 'http://127.0.0.1:9/v1')).toBeUndefined();
  });
});

describe('unknown model messages', () => {
  it('say how to enable a preset provider that is not enabled', () => {
    const r = assembleFrom({}, resolveProviders({}, {}).values()).registry;
    expect(() => r.resolve('deepseek/deepseek-chat')).toThrow(/Provider 'deepseek' \(DeepSeek\) is not enabled: set DEEPSEEK_API_KEY/);
  });
});
