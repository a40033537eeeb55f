import type { ProviderSpec } from '../catalog/providers.js';
import { loadConfigFile } from '../config/load.js';
import { resolveSettings } from '../config/settings.js';
import type { ServerSettings, SettingFlags } from '../config/settings.js';
import type { Registry } from '../routing/registry.js';
import { assemble } from './assemble.js';
import type { DestinationStream } from 'pino';
import { createLogger } from './log.js';
import type { SQLiteStores } from '../store/sqlite/index.js';
import type { PostgresStores } from '../store/postgres/index.js';
import { openEmbedded, openShared } from './backend.js';
import type { EmbeddedBackend, SharedBackend } from './backend.js';
import { createTracer } from '../usage/tracing.js';
import type { Tenancy } from '../tenancy/service.js';
import { createHub } from './app.js';
import { openHost } from './host.js';
import { openKnowledge } from './knowledge.js';
import { bodyCapture } from '../gateway/capture.js';
import type { Hook } from '../gateway/hooks.js';
import type { Hub } from './app.js';
import { evalCacheDir } from '../eval/service.js';
import type { MetricsGroup } from '../usage/metrics.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface StartOptions extends SettingFlags {
  /** Where logs go; default stdout. */
  readonly logDestination?: DestinationStream;
  readonly config?: string | undefined;
  readonly env?: Env;
  /** Look for Ollama on its default port when no local provider is configured. Default true. */
  readonly detectOllama?: boolean;
  /** Hooks of the embedding program (or a test), run after those the config turns on. */
  readonly hooks?: readonly Hook[];
  /** The other workers /metrics answers for (server/workers.ts); none: this process alone. */
  readonly metricsGroup?: MetricsGroup;
}

/** A running hub, on the embedded store (`store.kind` 'sqlite') or the shared one ('postgres'). */
export interface RunningHub<S extends SQLiteStores | PostgresStores = SQLiteStores | PostgresStores> {
  readonly url: string;
  readonly settings: ServerSettings;
  readonly configFile: string | undefined;
  readonly hub: Hub;
  readonly registry: Registry;
  readonly store: S;
  readonly providers: readonly ProviderSpec[];
  readonly tenancy: Tenancy;
  /** Deletes records past their retention now (it also runs hourly). */
  prune(): Promise<void>;
  /** The admin key, only on the start that generated it: show it once. */
  readonly generatedAdminKey: string | undefined;
  close(): Promise<void>;
}

/** Everything `baimo serve` does: config, providers, store, server. Throws ConfigError on a bad config. */
export async function startHub(o: StartOptions = {}): Promise<RunningHub> {
  const env = o.env ?? process.env;
  const { config, file } = loadConfigFile(o.config ?? env.BAIMO_CONFIG, env);
  const settings = resolveSettings(o, env, config);
  const { registry, prices, providers, redactor } = await assemble(config, env, { detectOllama: o.detectOllama !== false });
  const logger = createLogger(env.BAIMO_LOG_LEVEL ?? 'info', o.logDestination, redactor);
  const { databaseUrl, redisUrl } = settings;
  // The embedded store takes the data directory's lock: a second hub on the same directory stops
  // here. A shared one locks the directory too, for its journal: each replica needs its own.
  const host = await openHost<EmbeddedBackend | SharedBackend>({
    dataDir: settings.dataDir,
    open: () => (databaseUrl ? openShared(settings.dataDir, databaseUrl, redisUrl) : openEmbedded(settings.dataDir)),
    adminKey: env.BAIMO_ADMIN_KEY,
    authRequired: settings.auth === 'required',
    generateAdminKey: true,
  });
  const { backend, recorder, tenancy, generatedAdminKey } = host;
  const { ledger, limiter } = backend;
  const store = backend.stores;
  let tracer: Awaited<ReturnType<typeof createTracer>> | undefined;
  let knowledge: ReturnType<typeof openKnowledge> | undefined;
  try {
    if (backend.kind === 'sqlite') {
      // Read every budgeted account's spend now, so the request path never waits on the store.
      // (A shared ledger seeds an account from the database once, for all replicas, on first use.)
      for (const k of tenancy.keys()) if (k.budgetUsd !== undefined) void ledger.spent(`key:${k.id}`, k.budgetPeriod ?? 'month');
      for (const t of tenancy.teams()) if (t.budgetUsd !== undefined) void ledger.spent(`team:${t.id}`, t.budgetPeriod ?? 'month');
    }
    knowledge = openKnowledge({
      stores: store,
      tenancy,
      settings: { embeddingModel: config.knowledge?.embeddingModel, rerankModel: config.knowledge?.rerankModel },
      warn: (msg, err) => logger.warn({ msg, err_message: (err as Error)?.message }),
    });
    const hub = createHub({ registry, recorder, maxBodyBytes: settings.maxBodyBytes, tenancy, prices, ledger, limiter, stores: store,
      knowledge: knowledge.service,
      logger,
      metricsAuth: settings.metricsAuth,
      metricsGroup: o.metricsGroup,
      evalCacheDir: evalCacheDir(settings.dataDir),
      limits: { maxConnections: settings.maxConnections, headersTimeoutMs: settings.headersTimeoutMs, requestTimeoutMs: settings.requestTimeoutMs },
      hooks: [
        // One line per hook the config turns on, in the order they run (post-hooks in reverse).
        ...(config.logging?.bodies ? [bodyCapture(config.logging.maxBodyBytes ?? 64 * 1024, redactor)] : []),
        ...(o.hooks ?? []),
      ],
    });
    tracer = await createTracer(
      config.tracing?.otlpEndpoint ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT,
      config.tracing?.serviceName ?? env.OTEL_SERVICE_NAME,
    );
    const t = tracer;
    if (t) recorder.onRecord((r) => t.record(r));
    const retention = config.retention ?? {};
    const usageDays = retention.usageDays ?? 400;
    const bodiesDays = retention.bodiesDays ?? 30;
    const prune = async () => {
      try {
        const now = Date.now();
        const removed = await store.prune(now - usageDays * 86_400_000, now - bodiesDays * 86_400_000);
        if (removed.usage || removed.bodies) logger.info({ msg: 'pruned old records', ...removed });
      } catch (err) {
        logger.warn({ msg: 'pruning failed', err_message: (err as Error).message });
      }
    };
    const url = await hub.listen(settings.port, settings.host);
    // Soon after start (not during it), then hourly.
    let closing: Promise<void> | undefined;
    const pruneTimers = [setTimeout(() => void prune(), 10_000).unref(), setInterval(() => void prune(), 3_600_000).unref()];
    return {
      url,
      settings,
      configFile: file,
      hub,
      registry,
      store,
      providers,
      tenancy,
      generatedAdminKey,
      prune,
      close() {
        // Once, however many times it is asked (a second close would close the journal twice).
        closing ??= (async () => {
          for (const t of pruneTimers) clearTimeout(t);
          await hub.close();
          // Ingestion stops (its jobs handed back) before the store it writes to closes.
          await knowledge?.close();
          await host.close();
          await t?.shutdown();
          await new Promise<void>((resolve) => logger.flush(() => resolve()));
        })();
        return closing;
      },
    };
  } catch (err) {
    // Nothing half-started is left behind: the lock is released for the next try.
    await tracer?.shutdown();
    await knowledge?.close();
    await host.discard();
    throw err;
  }
}
