import { z } from 'zod';
import { ERROR_KINDS } from '../core/errors.js';
import { virtualModelSchema } from '../ensemble/kinds.js';
import { STRATEGIES } from '../routing/strategy.js';
import { DIALECTS, WIRE_FORMATS } from '../providers/index.js';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lowercase id (letters, digits, . _ -)');

const providerSchema = z.strictObject({
  /** The wire format the provider speaks. Default: openai (chat completions). */
  type: z.enum(WIRE_FORMATS).optional(),
  /**
   * How an OpenAI-compatible provider switches thinking and carries reasoning back. Default: the
   * preset's for a preset id, else the preset's whose host the base URL is on, else none.
   */
  dialect: z.enum(DIALECTS).optional(),
  /** Base URL including the version path, e.g. https://api.example.com/v1. Required unless the id is a preset's. */
  baseURL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  apiKey: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** Models listed in /v1/models; any other name still works as `provider/model`. */
  models: z.array(z.string().min(1)).optional(),
  embeddingModels: z.array(z.string().min(1)).optional(),
  /** Time to the first byte of the upstream's answer. */
  timeoutMs: z.number().int().positive().optional(),
  connectTimeoutMs: z.number().int().positive().optional(),
  /** The provider also speaks OpenAI's Responses API: Responses clients are then relayed natively. */
  responsesAPI: z.boolean().optional(),
  /** The provider's Anthropic-compatible base URL: Anthropic-format clients are then served natively. */
  anthropicBaseURL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  /** Longest silence between two chunks of a stream. */
  idleTimeoutMs: z.number().int().positive().optional(),
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
});

const positiveInt = z.number().int().positive();

const priceSchema = z.strictObject({
  currency: z.enum(['USD', 'CNY']).default('USD'),
  input: z.number().min(0),
  output: z.number().min(0),
  cachedInput: z.number().min(0).optional(),
  cacheWrite: z.number().min(0).optional(),
});

const deploymentSchema = z.strictObject({
  provider: id,
  /** The upstream's own name for the model. */
  model: z.string().min(1),
  weight: z.number().positive().optional(),
  /** Lower is tried first by the priority strategy. */
  priority: z.number().int().optional(),
  rpm: positiveInt.optional(),
  tpm: positiveInt.optional(),
});

const timeoutsSchema = z.strictObject({
  connectMs: positiveInt.optional(),
  firstByteMs: positiveInt.optional(),
  idleMs: positiveInt.optional(),
  totalMs: positiveInt.optional(),
});

const fallbackSchema = z.union([
  z.string().min(1),
  z.strictObject({ model: z.string().min(1), on: z.array(z.enum(ERROR_KINDS)).min(1).optional() }),
]);

const modelSchema = z
  .strictObject({
    /** Shorthand for a single deployment. */
    provider: id.optional(),
    model: z.string().min(1).optional(),
    deployments: z.array(deploymentSchema).min(1).optional(),
    strategy: z.enum(STRATEGIES).optional(),
    /** Attempts after the first, across deployments. */
    retries: z.number().int().min(0).max(10).optional(),
    /** No retry starts after this long. */
    retryBudgetMs: positiveInt.optional(),
    /** Longest backoff, and the longest Retry-After the hub will wait out itself. */
    maxRetryDelayMs: positiveInt.optional(),
    fallbacks: z.array(fallbackSchema).optional(),
    timeouts: timeoutsSchema.optional(),
    breaker: z
      .strictObject({
        consecutiveFailures: positiveInt.optional(),
        errorRate: z.number().gt(0).max(1).optional(),
        minRequests: positiveInt.optional(),
        cooldownMs: positiveInt.optional(),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    const single = m.provider !== undefined || m.model !== undefined;
    if (m.deployments && single) {
      ctx.addIssue({ code: 'custom', message: 'expected either provider and model, or deployments, not both' });
    } else if (!m.deployments && (m.provider === undefined || m.model === undefined)) {
      ctx.addIssue({ code: 'custom', path: [m.provider === undefined ? 'provider' : 'model'], message: 'required (or give a deployments list)' });
    }
  });

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65535).optional(),
      dataDir: z.string().min(1).optional(),
      /** Largest request body accepted, in bytes. */
      maxBodyBytes: z.number().int().positive().optional(),
      /** `required` (default): model APIs need a virtual key or the admin key. `none`: open, for local use. */
      auth: z.enum(['required', 'none']).optional(),
      /** `required`: GET /metrics needs the admin key. Default: the same as `auth`. */
      metricsAuth: z.enum(['required', 'none']).optional(),
      /** Most sockets held at once; more are closed on accept. Default 4096 (less if the file-descriptor limit is low). */
      maxConnections: z.number().int().positive().optional(),
      /** Longest time a client may take to send a request's headers. Default 30 s. */
      headersTimeoutMs: z.number().int().positive().optional(),
      /** Longest time a client may take to send a whole request, body included (not the response). Default 120 s. */
      requestTimeoutMs: z.number().int().positive().optional(),
    })
    .refine((s) => s.headersTimeoutMs === undefined || s.requestTimeoutMs === undefined || s.headersTimeoutMs <= s.requestTimeoutMs, {
      path: ['headersTimeoutMs'],
      message: 'must not be longer than requestTimeoutMs',
    })
    .optional(),
  /** The shared store (several replicas): PostgreSQL. Default: the embedded SQLite store in dataDir. */
  store: z
    .strictObject({
      /** postgres://user:password@host:5432/database (BAIMO_DATABASE_URL wins over it). */
      url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'expected a postgres://user:password@host:5432/database URL'),
    })
    .optional(),
  /** Shared fast state for replicas (rate windows, budget reservations, change notifications). */
  redis: z
    .strictObject({
      /** redis://[:password@]host:6379[/db] or rediss://… (BAIMO_REDIS_URL wins over it). */
      url: z.string().regex(/^rediss?:\/\/\S+$/, 'expected a redis://host:6379 URL'),
    })
    .optional(),
  pricing: z
    .strictObject({
      /** CNY per USD, for providers that bill in CNY. */
      cnyPerUsd: z.number().positive().optional(),
      /** Prices per million tokens by `provider/model`, overriding the built-in catalog. */
      models: z.record(z.string().min(3), priceSchema).optional(),
      /**
       * Lets keys and teams with a budget call models with no known price (they then cost nothing
       * against it): `true`, or model names / `provider/*` patterns. Default: refused.
       */
      allowUnpriced: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
    })
    .optional(),
  logging: z
    .strictObject({
      /** Keep request and response bodies (secrets redacted) for the request log. Off by default. */
      bodies: z.boolean().optional(),
      /** Longest body kept, in bytes; the rest is cut. */
      maxBodyBytes: z.number().int().positive().optional(),
    })
    .optional(),
  tracing: z
    .strictObject({
      /** OTLP/HTTP endpoint, e.g. http://otel-collector:4318 (the /v1/traces path is added). */
      otlpEndpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
      serviceName: z.string().min(1).optional(),
    })
    .optional(),
  retention: z
    .strictObject({
      /** Usage records older than this are deleted. */
      usageDays: z.number().positive().optional(),
      /** Captured bodies older than this are deleted. */
      bodiesDays: z.number().positive().optional(),
    })
    .optional(),
  knowledge: z
    .strictObject({
      /** The embedding model new vector stores use (a public model name); absent: keyword search only. A store may name its own. */
      embeddingModel: z.string().min(1).optional(),
      /** Reranks vector-store search candidates with this model (a public model name with the rerank capability). */
      rerankModel: z.string().min(1).optional(),
    })
    .optional(),
  providers: z.record(id, providerSchema).optional(),
  models: z.record(z.string().min(1), modelSchema).optional(),
  aliases: z.record(z.string().min(1), z.string().min(1)).optional(),
  /** Virtual models that combine other models: cascade, vote, moa, judge, decompose. */
  virtualModels: z.record(z.string().min(1), virtualModelSchema).optional(),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
