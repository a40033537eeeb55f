import { readFileSync } from 'node:fs';
import type { ConfigFile } from './schema.js';
import { ConfigError } from './error.js';

export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly maxBodyBytes: number;
  readonly auth: 'required' | 'none';
  /** Whether GET /metrics needs the admin key. */
  readonly metricsAuth: 'required' | 'none';
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** The shared store: PostgreSQL (undefined: the embedded SQLite store in dataDir). */
  readonly databaseUrl: string | undefined;
  /** Shared limits and change notifications: Redis (only with databaseUrl). */
  readonly redisUrl: string | undefined;
}

export interface SettingFlags {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly dataDir?: string | undefined;
}

export const DEFAULTS: Omit<ServerSettings, 'metricsAuth' | 'databaseUrl' | 'redisUrl'> = {
  host: '127.0.0.1',
  port: 4000,
  dataDir: '.baimo',
  maxBodyBytes: 32 * 1024 * 1024,
  auth: 'required',
  maxConnections: 4096,
  // Headers are a few hundred bytes: even a poor mobile link sends them in seconds.
  headersTimeoutMs: 30_000,
  // A 32 MB body (maxBodyBytes) arrives in 120 s at ~2.2 Mbit/s; raise it for larger uploads on
  // slower links. It covers receiving the request only: a long stream back is never cut by it.
  requestTimeoutMs: 120_000,
};

/**
 * The default connection cap: 4096, or less where the process may open few files. Every client
 * socket may need an upstream socket too, and the store and journal need a few.
 */
export function defaultMaxConnections(): number {
  let soft: number | undefined;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const n = line ? Number(line.split(/\s{2,}/)[1]) : NaN;
    if (Number.isFinite(n) && n > 0) soft = n;
  } catch {
    // not Linux: keep the default
  }
  return soft === undefined ? DEFAULTS.maxConnections : Math.min(DEFAULTS.maxConnections, Math.max(32, Math.floor((soft - 64) / 2)));
}

function positive(value: string | undefined, source: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(undefined, [{ path: source, message: 'expected a positive whole number' }]);
  return n;
}

function requiredOrNone(value: string | undefined, source: string): 'required' | 'none' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'required' || value === 'none') return value;
  throw new ConfigError(undefined, [{ path: source, message: "expected 'required' or 'none'" }]);
}

function port(value: string, source: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(undefined, [{ path: source, message: 'expected a port number between 0 and 65535' }]);
  }
  return n;
}

/**
 * A store URL from the environment, checked for its scheme. The message never quotes the value:
 * a mistyped URL may still hold a password.
 */
function storeUrl(value: string | undefined, source: string, schemes: readonly string[], example: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  let scheme: string | undefined;
  try {
    scheme = new URL(value).protocol.slice(0, -1);
  } catch {
    // not a URL at all
  }
  if (scheme === undefined || !schemes.includes(scheme)) {
    throw new ConfigError(undefined, [{ path: source, message: `expected a ${example} URL` }]);
  }
  return value;
}

/** Flags beat environment variables, which beat the config file, which beats the defaults. */
export function resolveSettings(
  flags: SettingFlags,
  env: Readonly<Record<string, string | undefined>>,
  config: ConfigFile,
): ServerSettings {
  const s = config.server ?? {};
  const auth = requiredOrNone(env.BAIMO_AUTH, 'BAIMO_AUTH') ?? s.auth ?? DEFAULTS.auth;
  const headersTimeoutMs = positive(env.BAIMO_HEADERS_TIMEOUT_MS, 'BAIMO_HEADERS_TIMEOUT_MS') ?? s.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
  const requestTimeoutMs = positive(env.BAIMO_REQUEST_TIMEOUT_MS, 'BAIMO_REQUEST_TIMEOUT_MS') ?? s.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(undefined, [{ path: 'headersTimeoutMs', message: `${headersTimeoutMs} ms is longer than requestTimeoutMs (${requestTimeoutMs} ms)` }]);
  }
  const databaseUrl = storeUrl(env.BAIMO_DATABASE_URL, 'BAIMO_DATABASE_URL', ['postgres', 'postgresql'], 'postgres://user:password@host:5432/database') ?? config.store?.url;
  const redisUrl = storeUrl(env.BAIMO_REDIS_URL, 'BAIMO_REDIS_URL', ['redis', 'rediss'], 'redis://host:6379') ?? config.redis?.url;
  if (redisUrl !== undefined && databaseUrl === undefined) {
    // Limits in Redis over records in a local SQLite file would be shared by nothing else: refuse the half setup.
    throw new ConfigError(undefined, [{ path: 'BAIMO_REDIS_URL', message: 'Redis is for replicas sharing a PostgreSQL store: set BAIMO_DATABASE_URL (or store.url) too' }]);
  }
  return {
    host: flags.host ?? env.BAIMO_HOST ?? s.host ?? DEFAULTS.host,
    port: flags.port !== undefined ? port(flags.port, '--port') : env.BAIMO_PORT ? port(env.BAIMO_PORT, 'BAIMO_PORT') : (s.port ?? DEFAULTS.port),
    dataDir: flags.dataDir ?? env.BAIMO_DATA_DIR ?? s.dataDir ?? DEFAULTS.dataDir,
    maxBodyBytes: s.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    auth,
    // An open hub is open on /metrics too, unless told otherwise.
    metricsAuth: requiredOrNone(env.BAIMO_METRICS_AUTH, 'BAIMO_METRICS_AUTH') ?? s.metricsAuth ?? auth,
    maxConnections: positive(env.BAIMO_MAX_CONNECTIONS, 'BAIMO_MAX_CONNECTIONS') ?? s.maxConnections ?? defaultMaxConnections(),
    headersTimeoutMs,
    requestTimeoutMs,
    databaseUrl,
    redisUrl,
  };
}
