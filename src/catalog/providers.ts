import type { ConfigFile } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import type { Dialect, WireFormat } from '../providers/index.js';
import { PROVIDER_PRESETS } from './presets.js';
import type { ProviderPreset } from './presets.js';

/** A provider the hub will talk to, with everything needed to reach it. */
export interface ProviderSpec {
  readonly id: string;
  /** The wire format it speaks. */
  readonly type: WireFormat;
  /** Its family's thinking switches and reasoning fields, when it speaks `openai` (see presets.ts). */
  readonly dialect?: Dialect;
  readonly name: string;
  readonly baseURL: string;
  readonly apiKey: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly models: readonly string[];
  readonly embeddingModels: readonly string[];
  readonly connectTimeoutMs: number;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Whether it also speaks OpenAI's Responses API (OpenAI itself does). */
  readonly responsesAPI?: boolean;
  /** An Anthropic-Messages-compatible endpoint of the same provider, if it has one. */
  readonly anthropicBaseURL?: string | undefined;
  /** Where it came from, for `baimo models` and start-up output. */
  readonly source: 'preset' | 'config' | 'detected';
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Default upstream timeouts (README, "Timeouts"). A non-streaming answer sends its headers only
 * once it is whole, and a reasoning model can think for minutes first: 5 min. A stream's headers
 * come at once and reasoning models stream thinking, keep-alive comments or pings while they
 * think, so 2 min of silence (before the headers or between chunks) means a dead upstream.
 */
const FIRST_BYTE_TIMEOUT_MS = 300_000;
const IDLE_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function keyFrom(preset: ProviderPreset, env: Env): string | undefined {
  for (const name of preset.apiKeyEnv) {
    const v = env[name];
    if (v) return v;
  }
  return undefined;
}

/**
 * A preset's Anthropic endpoint lives on the preset's default host. Once the base URL points
 * elsewhere (another region, a company proxy), Anthropic-format calls must not go around it to
 * that host: they are translated onto the configured base URL instead, unless an
 * `anthropicBaseURL` is given for it too.
 */
function presetAnthropicURL(p: ProviderPreset, baseURL: string): string | undefined {
  return baseURL === trimSlash(p.baseURL) ? p.anthropicBaseURL : undefined;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Cloud presets by the hosts they are documented on (base URL, Anthropic-compatible URL, other
 * regions). Local presets are left out: `127.0.0.1:8000` says nothing about the server there.
 */
const PRESET_BY_HOST: ReadonlyMap<string, ProviderPreset> = new Map(
  PROVIDER_PRESETS.filter((p) => p.kind === 'cloud').flatMap((p) => {
    const hosts = [hostOf(p.baseURL), p.anthropicBaseURL === undefined ? undefined : hostOf(p.anthropicBaseURL), ...(p.otherHosts ?? [])];
    return hosts.flatMap((h) => (h === undefined ? [] : [[h, p] as const]));
  }),
);

/**
 * The dialect of a provider configured under an id of its own: the one its config names, else
 * the one of the cloud preset whose host its base URL is on (`my-deepseek` at api.deepseek.com
 * speaks `deepseek`).
 */
function customDialect(type: WireFormat, baseURL: string, configured: Dialect | undefined): Dialect | undefined {
  if (configured !== undefined || type !== 'openai') return configured;
  const host = hostOf(baseURL);
  const preset = host === undefined ? undefined : PRESET_BY_HOST.get(host);
  return preset && (preset.type ?? 'openai') === 'openai' ? preset.dialect : undefined;
}

function fromPreset(p: ProviderPreset, env: Env, source: ProviderSpec['source']): ProviderSpec {
  const baseURL = trimSlash(env[p.baseURLEnv] || p.baseURL);
  const anthropicBaseURL = presetAnthropicURL(p, baseURL);
  return {
    id: p.id,
    type: p.type ?? 'openai',
    ...(p.dialect !== undefined && { dialect: p.dialect }),
    name: p.name,
    baseURL,
    apiKey: keyFrom(p, env),
    headers: {},
    models: p.models,
    embeddingModels: p.embeddingModels ?? [],
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    firstByteTimeoutMs: FIRST_BYTE_TIMEOUT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    maxTokensField: p.maxTokensField ?? 'max_tokens',
    ...(p.responsesAPI && { responsesAPI: true }),
    ...(anthropicBaseURL !== undefined && { anthropicBaseURL }),
    source,
  };
}

/**
 * Providers enabled with zero config: a cloud preset when its key variable is set, a local one
 * when its base-URL variable is set. Config entries add providers or refine presets of the same id.
 */
export function resolveProviders(config: ConfigFile, env: Env): Map<string, ProviderSpec> {
  const out = new Map<string, ProviderSpec>();
  for (const p of PROVIDER_PRESETS) {
    const enabled = p.kind === 'cloud' ? keyFrom(p, env) !== undefined : Boolean(env[p.baseURLEnv]);
    if (enabled) out.set(p.id, fromPreset(p, env, 'preset'));
  }
  const problems: { path: string; message: string }[] = [];
  for (const [id, c] of Object.entries(config.providers ?? {})) {
    const preset = PROVIDER_PRESETS.find((p) => p.id === id);
    const base = preset ? fromPreset(preset, env, 'config') : undefined;
    const baseURL = c.baseURL ?? base?.baseURL;
    if (!baseURL) {
      problems.push({ path: `providers.${id}.baseURL`, message: 'required (this id is not a built-in preset)' });
      continue;
    }
    const anthropic = c.anthropicBaseURL ?? (preset && presetAnthropicURL(preset, trimSlash(baseURL)));
    const type = c.type ?? base?.type ?? 'openai';
    // A preset's id keeps the preset's dialect; any other id takes it from its config or its host.
    const dialect = base ? (c.dialect ?? base.dialect) : customDialect(type, baseURL, c.dialect);
    out.set(id, {
      id,
      type,
      ...(dialect !== undefined && { dialect }),
      name: base?.name ?? id,
      baseURL: trimSlash(baseURL),
      apiKey: c.apiKey ?? base?.apiKey,
      headers: c.headers ?? {},
      models: c.models ?? base?.models ?? [],
      embeddingModels: c.embeddingModels ?? base?.embeddingModels ?? [],
      connectTimeoutMs: c.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      firstByteTimeoutMs: c.timeoutMs ?? FIRST_BYTE_TIMEOUT_MS,
      idleTimeoutMs: c.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      maxTokensField: c.maxTokensField ?? base?.maxTokensField ?? 'max_tokens',
      ...((c.responsesAPI ?? base?.responsesAPI) && { responsesAPI: true }),
      ...(anthropic !== undefined && { anthropicBaseURL: trimSlash(anthropic) }),
      source: 'config',
    });
  }
  if (problems.length) throw new ConfigError(undefined, problems);
  return out;
}

/** Ollama answers on its default port without any setup; use it when it is there. */
export async function detectOllama(env: Env, timeoutMs = 400, probeURL?: string): Promise<ProviderSpec | undefined> {
  const preset = PROVIDER_PRESETS.find((p) => p.id === 'ollama');
  if (!preset || env[preset.baseURLEnv]) return undefined;
  const base = trimSlash(probeURL ?? preset.baseURL);
  try {
    const res = await fetch(`${base}/models`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { data?: { id?: string }[] };
    const models = (body.data ?? []).map((m) => m.id).filter((m): m is string => typeof m === 'string');
    return { ...fromPreset(preset, env, 'detected'), baseURL: base, models };
  } catch {
    return undefined;
  }
}
