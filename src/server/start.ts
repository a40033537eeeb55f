import { detectOllama, resolveProviders } from '../catalog/providers.js';
import type { ProviderSpec } from '../catalog/providers.js';
import { loadConfigFile } from '../config/load.js';
import { resolveSettings } from '../config/settings.js';
import type { ServerSettings, SettingFlags } from '../config/settings.js';
import { Registry } from '../routing/registry.js';
import { SQLiteStore } from '../store/sqlite.js';
import { UsageRecorder } from '../usage/record.js';
import { createHub } from './app.js';
import type { Hub } from './app.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface StartOptions extends SettingFlags {
  readonly config?: string | undefined;
  readonly env?: Env;
  /** Look for Ollama on its default port when no local provider is configured. Default true. */
  readonly detectOllama?: boolean;
}

export interface RunningHub {
  readonly url: string;
  readonly settings: ServerSettings;
  readonly configFile: string | undefined;
  readonly hub: Hub;
  readonly registry: Registry;
  readonly store: SQLiteStore;
  readonly providers: readonly ProviderSpec[];
  close(): Promise<void>;
}

/** Everything `baimo serve` does: config, providers, store, server. Throws ConfigError on a bad config. */
export async function startHub(o: StartOptions = {}): Promise<RunningHub> {
  const env = o.env ?? process.env;
  const { config, file } = loadConfigFile(o.config ?? env.BAIMO_CONFIG, env);
  const settings = resolveSettings(o, env, config);
  const specs = resolveProviders(config, env);
  if (o.detectOllama !== false && !specs.has('ollama')) {
    const ollama = await detectOllama(env);
    if (ollama) specs.set('ollama', ollama);
  }
  const registry = new Registry(specs.values(), config);
  const store = SQLiteStore.open(settings.dataDir);
  const recorder = new UsageRecorder(store);
  const hub = createHub({ registry, recorder, maxBodyBytes: settings.maxBodyBytes });
  let url: string;
  try {
    url = await hub.listen(settings.port, settings.host);
  } catch (err) {
    store.close();
    throw err;
  }
  return {
    url,
    settings,
    configFile: file,
    hub,
    registry,
    store,
    providers: registry.providerSpecs(),
    async close() {
      await hub.close();
      store.close();
    },
  };
}
