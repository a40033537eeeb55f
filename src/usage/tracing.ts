import type { UsageRecord } from './record.js';

/** Turns finished requests into OpenTelemetry spans. */
export interface Tracer {
  record(r: UsageRecord): void;
  shutdown(): Promise<void>;
}

/**
 * OTLP/HTTP traces, on only when an endpoint is configured (`tracing.otlpEndpoint`, or the standard
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT). The SDK is loaded only then.
 * One span per request, named `chat <model>` after the GenAI semantic conventions, timed from
 * arrival to the last byte; attributes carry ids and counts, never a key or a prompt.
 */
export async function createTracer(endpoint: string | undefined, serviceName = 'baimo'): Promise<Tracer | undefined> {
  if (!endpoint) return undefined;
  const [{ BasicTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, api] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/api'),
  ]);
  const url = /\/v1\/traces\/?$/.test(endpoint) ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1000 });
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), spanProcessors: [processor] });
  const tracer = provider.getTracer('baimo');
  return {
    record(r) {
      if (!r.final) return;
      // GenAI semantic conventions name no rerank operation: a custom value, as they allow.
      const operation = r.endpoint === 'embeddings' || r.endpoint === 'rerank' ? r.endpoint : 'chat';
      const span = tracer.startSpan(`${operation} ${r.model}`, {
        kind: api.SpanKind.SERVER,
        startTime: r.ts,
        attributes: {
          'gen_ai.operation.name': operation,
          'gen_ai.request.model': r.model,
          ...(r.provider && { 'gen_ai.system': r.provider }),
          ...(r.upstreamModel && { 'gen_ai.response.model': r.upstreamModel }),
          ...(r.usage && { 'gen_ai.usage.input_tokens': r.usage.inputTokens, 'gen_ai.usage.output_tokens': r.usage.outputTokens }),
          'baimo.request_id': r.requestId,
          'baimo.attempts': r.attempt,
          'baimo.stream': r.stream,
          'http.response.status_code': r.status,
          ...(r.deployment && { 'baimo.deployment': r.deployment }),
          ...(r.keyId && { 'baimo.key_id': r.keyId }),
          ...(r.teamId && { 'baimo.team_id': r.teamId }),
          ...(r.costUsd !== undefined && { 'baimo.cost_usd': r.costUsd }),
          ...(r.ttftMs !== undefined && { 'baimo.ttft_ms': r.ttftMs }),
          ...(r.errorKind && { 'error.type': r.errorKind }),
        },
      });
      if (r.status >= 400) span.setStatus({ code: api.SpanStatusCode.ERROR, message: r.errorKind ?? String(r.status) });
      span.end(r.ts + r.latencyMs);
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}
