import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lowercase id (letters, digits, . _ -)');

const providerSchema = z.strictObject({
  /** The wire format the provider speaks. Default: openai (chat completions). */
  type: z.enum(['openai', 'anthropic', 'gemini']).optional(),
  /** Base URL including the version path, e.g. https://api.example.com/v1. Required unless the id is a preset's. */
  baseURL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  apiKey: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** Models listed in /v1/models; any other name still works as `provider/model`. */
  models: z.array(z.string().min(1)).optional(),
  embeddingModels: z.array(z.string().min(1)).optional(),
  /** Time to the first byte of the upstream's answer. */
  timeoutMs: z.number().int().positive().optional(),
  /** Longest silence between two chunks of a stream. */
  idleTimeoutMs: z.number().int().positive().optional(),
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
});

const modelSchema = z.strictObject({
  provider: id,
  /** The upstream's own name for the model. */
  model: z.string().min(1),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65535).optional(),
      dataDir: z.string().min(1).optional(),
      /** Largest request body accepted, in bytes. */
      maxBodyBytes: z.number().int().positive().optional(),
    })
    .optional(),
  providers: z.record(id, providerSchema).optional(),
  models: z.record(z.string().min(1), modelSchema).optional(),
  aliases: z.record(z.string().min(1), z.string().min(1)).optional(),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
