import type { Registry } from '../routing/registry.js';
import type { UsageRecorder } from '../usage/record.js';

/** What route handlers share; built once by the app. */
export interface HubContext {
  readonly registry: Registry;
  readonly recorder: UsageRecorder;
  readonly maxBodyBytes: number;
  /** Unix seconds the hub started, reported as `created` in /v1/models. */
  readonly startedAt: number;
}
