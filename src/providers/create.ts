import type { ProviderSpec } from '../catalog/providers.js';
import type { Model } from '../core/model.js';
import type { Redactor } from '../core/redact.js';
import { AnthropicProvider } from './anthropic/provider.js';
import { GeminiProvider } from './gemini/provider.js';
import type { Timeouts } from './http.js';
import { OpenAICompatibleProvider } from './openai-compatible/provider.js';

/**
 * The provider's Anthropic-compatible endpoint as a Model, when it has one. `redactor`: the hub's
 * upstream secrets, kept out of error text (default: this provider's own).
 */
export function createAnthropicEndpoint(spec: ProviderSpec, timeouts: Partial<Timeouts> = {}, redactor?: Redactor): Model | undefined {
  if (spec.type !== 'openai' || !spec.anthropicBaseURL) return undefined;
  return new AnthropicProvider({
    id: spec.id,
    baseURL: spec.anthropicBaseURL,
    headers: spec.headers,
    timeouts: { connectMs: timeouts.connectMs ?? spec.connectTimeoutMs, firstByteMs: timeouts.firstByteMs ?? spec.firstByteTimeoutMs, idleMs: timeouts.idleMs ?? spec.idleTimeoutMs },
    ...(spec.apiKey !== undefined && { apiKey: spec.apiKey }),
    ...(redactor && { redactor }),
  });
}

/** A Model speaking the spec's wire format; `timeouts` override the provider's own; `redactor` as above. */
export function createProvider(spec: ProviderSpec, timeouts: Partial<Timeouts> = {}, redactor?: Redactor): Model {
  const t: Timeouts = {
    connectMs: timeouts.connectMs ?? spec.connectTimeoutMs,
    firstByteMs: timeouts.firstByteMs ?? spec.firstByteTimeoutMs,
    idleMs: timeouts.idleMs ?? spec.idleTimeoutMs,
  };
  const common = { id: spec.id, baseURL: spec.baseURL, headers: spec.headers, timeouts: t, ...(spec.apiKey !== undefined && { apiKey: spec.apiKey }), ...(redactor && { redactor }) };
  switch (spec.type) {
    case 'anthropic':
      return new AnthropicProvider(common);
    case 'gemini':
      return new GeminiProvider(common);
    case 'openai':
      return new OpenAICompatibleProvider({ ...common, maxTokensField: spec.maxTokensField, dialect: spec.dialect, ...(spec.responsesAPI && { responsesAPI: true }) });
  }
}
