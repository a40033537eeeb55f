/**
 * OpenAI's attribute filters for vector-store search (the SDK's `ComparisonFilter` and
 * `CompoundFilter`): a comparison `{type: eq|ne|gt|gte|lt|lte|in|nin, key, value}` over one
 * attribute, or `{type: and|or, filters: [...]}` over others. Parsed once (hostile input refused
 * with a message naming the path), then evaluated against each file's attributes.
 */
import type { Attributes } from './ports.js';

export type Scalar = string | number | boolean;

export type Filter =
  | { readonly type: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'; readonly key: string; readonly value: Scalar }
  | { readonly type: 'in' | 'nin'; readonly key: string; readonly value: readonly (string | number)[] }
  | { readonly type: 'and' | 'or'; readonly filters: readonly Filter[] };

/** A filter the client sent that is not one: its message names where (`filters.filters[1].value`). */
export class FilterError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'FilterError';
  }
}

/** Nesting of compound filters beyond this is refused: no real query needs it, and evaluation recurses. */
export const MAX_FILTER_DEPTH = 8;
/** Comparisons in one filter, all levels together. */
export const MAX_FILTER_NODES = 256;
/** Values in one `in` / `nin` list. */
export const MAX_IN_VALUES = 1000;
const MAX_KEY = 64;
const MAX_STRING = 512;

const COMPARISONS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte']);

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** Parses a client's `filters`, or throws FilterError. */
export function parseFilter(raw: unknown, path = 'filters'): Filter {
  let nodes = 0;
  const walk = (v: unknown, at: string, depth: number): Filter => {
    if (++nodes > MAX_FILTER_NODES) throw new FilterError(`Invalid '${path}': more than ${MAX_FILTER_NODES} filters in all.`, path);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FilterError(`Invalid '${at}': expected an object.`, at);
    const o = v as Record<string, unknown>;
    const type = o.type;
    if (type === 'and' || type === 'or') {
      if (depth >= MAX_FILTER_DEPTH) throw new FilterError(`Invalid '${at}': compound filters nested more than ${MAX_FILTER_DEPTH} deep.`, at);
      if (!Array.isArray(o.filters) || o.filters.length === 0) throw new FilterError(`Invalid '${at}.filters': expected a non-empty array of filters.`, `${at}.filters`);
      return { type, filters: o.filters.map((f, i) => walk(f, `${at}.filters[${i}]`, depth + 1)) };
    }
    if (typeof type !== 'string' || (!COMPARISONS.has(type) && type !== 'in' && type !== 'nin')) {
      throw new FilterError(`Invalid '${at}.type': expected one of 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'and', 'or'.`, `${at}.type`);
    }
    const key = o.key;
    if (typeof key !== 'string' || key === '' || key.length > MAX_KEY) throw new FilterError(`Invalid '${at}.key': expected a string of 1 to ${MAX_KEY} characters.`, `${at}.key`);
    const value = o.value;
    if (type === 'in' || type === 'nin') {
      if (!Array.isArray(value) || value.length > MAX_IN_VALUES || !value.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))) {
        throw new FilterError(`Invalid '${at}.value': '${type}' takes an array of at most ${MAX_IN_VALUES} strings and numbers.`, `${at}.value`);
      }
      return { type, key, value: value as (string | number)[] };
    }
    if (!isScalar(value) || (typeof value === 'string' && value.length > MAX_STRING)) {
      throw new FilterError(`Invalid '${at}.value': '${type}' takes a string (at most ${MAX_STRING} characters), a number or a boolean.`, `${at}.value`);
    }
    if ((type === 'gt' || type === 'gte' || type === 'lt' || type === 'lte') && typeof value === 'boolean') {
      throw new FilterError(`Invalid '${at}.value': '${type}' compares numbers or strings, not booleans.`, `${at}.value`);
    }
    return { type: type as 'eq', key, value };
  };
  return walk(raw, path, 0);
}

/** Orders two values of the same kind; undefined when they cannot be compared (different kinds). */
function order(a: Scalar, b: Scalar): number | undefined {
  if (typeof a !== typeof b) return undefined;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An own attribute only (never `__proto__` or `constructor` of a plain object). */
function attr(attrs: Attributes | null, key: string): Scalar | undefined {
  return attrs !== null && Object.hasOwn(attrs, key) ? attrs[key] : undefined;
}

/**
 * Whether a file's attributes pass the filter. A comparison on an attribute the file lacks, or of
 * another type than the value, is false; `ne` and `nin` are their positive twins negated, so a
 * file without the attribute passes them.
 */
export function matches(f: Filter, attrs: Attributes | null): boolean {
  switch (f.type) {
    case 'and':
      return f.filters.every((g) => matches(g, attrs));
    case 'or':
      return f.filters.some((g) => matches(g, attrs));
    case 'ne':
      return !matches({ ...f, type: 'eq' }, attrs);
    case 'nin':
      return !matches({ ...f, type: 'in' }, attrs);
    case 'in': {
      const v = attr(attrs, f.key);
      return v !== undefined && typeof v !== 'boolean' && f.value.some((x) => x === v);
    }
    default: {
      const v = attr(attrs, f.key);
      if (v === undefined) return false;
      const c = order(v, f.value);
      if (c === undefined) return false;
      return f.type === 'eq' ? c === 0 : f.type === 'gt' ? c > 0 : f.type === 'gte' ? c >= 0 : f.type === 'lt' ? c < 0 : c <= 0;
    }
  }
}
