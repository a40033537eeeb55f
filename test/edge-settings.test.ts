import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { defaultMaxConnections, resolveSettings } from '../src/config/settings.js';

describe('connection and /metrics settings', () => {
  it('default: 4096 connections at most, 30 s for headers, 120 s for a whole request, /metrics as protected as the model APIs', () => {
    const s = resolveSettings({}, {}, {});
    expect(s).toMatchObject({ headersTimeoutMs: 30_000, requestTimeoutMs: 120_000, metricsAuth: 'required' });
    expect(s.maxConnections).toBe(defaultMaxConnections());
    expect(s.maxConnections).toBeGreaterThanOrEqual(32);
    expect(s.maxConnections).toBeLessThanOrEqual(4096);
    expect(resolveSettings({}, { BAIMO_AUTH: 'none' }, {}).metricsAuth).toBe('none');
  });

  it('come from baimo.yaml, and environment variables beat the file', () => {
    const config = validateConfig({ server: { maxConnections: 100, headersTimeoutMs: 5000, requestTimeoutMs: 60000, metricsAuth: 'none' } }, {});
    expect(resolveSettings({}, {}, config)).toMatchObject({ maxConnections: 100, headersTimeoutMs: 5000, requestTimeoutMs: 60000, metricsAuth: 'none' });
    const env = { BAIMO_MAX_CONNECTIONS: '10', BAIMO_HEADERS_TIMEOUT_MS: '1000', BAIMO_REQUEST_TIMEOUT_MS: '2000', BAIMO_METRICS_AUTH: 'required' };
    expect(resolveSettings({}, env, config)).toMatchObject({ maxConnections: 10, headersTimeoutMs: 1000, requestTimeoutMs: 2000, metricsAuth: 'required' });
  });

  it('wrong values stop start-up naming the setting', () => {
    expect(() => resolveSettings({}, { BAIMO_MAX_CONNECTIONS: 'lots' }, {})).toThrow(/BAIMO_MAX_CONNECTIONS: expected a positive whole number/);
    expect(() => resolveSettings({}, { BAIMO_METRICS_AUTH: 'admin' }, {})).toThrow(/BAIMO_METRICS_AUTH: expected 'required' or 'none'/);
    expect(() => resolveSettings({}, { BAIMO_HEADERS_TIMEOUT_MS: '200000' }, {})).toThrow(ConfigError);
    expect(() => validateConfig({ server: { headersTimeoutMs: 9000, requestTimeoutMs: 1000 } }, {})).toThrow(/server\.headersTimeoutMs: must not be longer than requestTimeoutMs/);
  });
});
