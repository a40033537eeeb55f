import type { ConfigFile } from './schema.js';
import { ConfigError } from './load.js';

export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly maxBodyBytes: number;
  readonly auth: 'required' | 'none';
}

export interface SettingFlags {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly dataDir?: string | undefined;
}

export const DEFAULTS: ServerSettings = {
  host: '127.0.0.1',
  port: 4000,
  dataDir: '.baimo',
  maxBodyBytes: 32 * 1024 * 1024,
  auth: 'required',
};

function port(value: string, source: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(undefined, [{ path: source, message: 'expected a port number between 0 and 65535' }]);
  }
  return n;
}

function auth(value: string | undefined): 'required' | 'none' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'required' || value === 'none') return value;
  throw new ConfigError(undefined, [{ path: 'BAIMO_AUTH', message: "expected 'required' or 'none'" }]);
}

/** Flags beat environment variables, which beat the config file, which beats the defaults. */
export function resolveSettings(
  flags: SettingFlags,
  env: Readonly<Record<string, string | undefined>>,
  config: ConfigFile,
): ServerSettings {
  const s = config.server ?? {};
  return {
    host: flags.host ?? env.BAIMO_HOST ?? s.host ?? DEFAULTS.host,
    port: flags.port !== undefined ? port(flags.port, '--port') : env.BAIMO_PORT ? port(env.BAIMO_PORT, 'BAIMO_PORT') : (s.port ?? DEFAULTS.port),
    dataDir: flags.dataDir ?? env.BAIMO_DATA_DIR ?? s.dataDir ?? DEFAULTS.dataDir,
    maxBodyBytes: s.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    auth: auth(env.BAIMO_AUTH) ?? s.auth ?? DEFAULTS.auth,
  };
}
