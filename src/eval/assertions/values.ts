/** Shared checks of an assertion's `value` and `threshold`, done at load (errors name the YAML path). */
import { SuiteError } from '../types.js';
import type { AssertionSpec } from './types.js';

export function needString(a: AssertionSpec, where: string): void {
  if (typeof a.value !== 'string' || a.value === '') throw new SuiteError(`${where}.value: '${a.type}' needs a non-empty string value`);
}

export function needStrings(a: AssertionSpec, where: string): void {
  if (!Array.isArray(a.value) || a.value.length === 0 || !a.value.every((v) => typeof v === 'string')) {
    throw new SuiteError(`${where}.value: '${a.type}' needs a non-empty list of strings`);
  }
}

export function needThreshold(a: AssertionSpec, where: string, what: string): void {
  if (a.threshold === undefined || a.threshold < 0) throw new SuiteError(`${where}.threshold: '${a.type}' needs a threshold ≥ 0 (${what})`);
}

export function unitThreshold(a: AssertionSpec, where: string): void {
  if (a.threshold !== undefined && (a.threshold < 0 || a.threshold > 1)) throw new SuiteError(`${where}.threshold: '${a.type}' takes a threshold from 0 to 1`);
}

/** The value as text: strings as they are, anything else as JSON. */
export function asText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
