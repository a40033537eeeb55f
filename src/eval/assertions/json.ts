/** `is-json` (optionally against a schema given as its value) and `json-schema`, with ajv. */
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { SuiteError } from '../types.js';
import { compile } from './regex.js';
import type { AssertionSpec, Kind } from './types.js';
import { binary } from './types.js';

const ajv = new Ajv({ allErrors: false, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

function schemaOf(a: AssertionSpec, where: string): ValidateFunction | undefined {
  if (a.value === undefined) return undefined;
  const schema = typeof a.value === 'string' ? parseSchema(a.value, where) : a.value;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new SuiteError(`${where}.value: a JSON schema must be an object`);
  let v = compiled.get(schema);
  if (!v) {
    checkPatterns(schema, `${where}.value`, 0);
    try {
      v = ajv.compile(schema);
    } catch (err) {
      throw new SuiteError(`${where}.value: not a valid JSON schema (${(err as Error).message.slice(0, 200)})`);
    }
    compiled.set(schema, v);
  }
  return v;
}

/**
 * The schema's `pattern`s and `patternProperties` are regexes run on the model's output by ajv,
 * outside the time limit `regex` has: they get the same load-time check (no nested repetition).
 */
function checkPatterns(node: unknown, where: string, depth: number): void {
  if (depth > 64) throw new SuiteError(`${where}: the schema is nested more than 64 deep`);
  if (Array.isArray(node)) return node.forEach((x, i) => checkPatterns(x, `${where}[${i}]`, depth + 1));
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'pattern' && typeof v === 'string') compile(v, `${where}.pattern`);
    if (k === 'patternProperties' && v && typeof v === 'object') for (const p of Object.keys(v)) compile(p, `${where}.patternProperties`);
    checkPatterns(v, `${where}.${k}`, depth + 1);
  }
}

function parseSchema(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SuiteError(`${where}.value: the schema is not valid JSON`);
  }
}

function run(a: AssertionSpec, output: string) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    return binary(false, 'Expected output to be valid JSON');
  }
  const validate = schemaOf(a, 'assert');
  if (!validate) return binary(true, 'Output is valid JSON');
  const ok = validate(parsed);
  const err = validate.errors?.[0];
  return binary(ok, ok ? 'Output matches the JSON schema' : `Output does not match the JSON schema: ${err ? `${err.instancePath || '(root)'} ${err.message ?? ''}` : 'invalid'}`);
}

export const isJson: Kind = {
  check: (a, where) => void schemaOf(a, where),
  run: (a, ctx) => run(a, ctx.output),
};

export const jsonSchema: Kind = {
  check(a, where) {
    if (a.value === undefined) throw new SuiteError(`${where}.value: 'json-schema' needs a schema`);
    schemaOf(a, where);
  },
  run: (a, ctx) => run(a, ctx.output),
};
