import type { JSONSchema } from '../../core/types.js';
import type { GeminiSchema, GeminiType } from './wire.js';

/**
 * JSON Schema (as OpenAI and Anthropic clients send it for tool parameters and structured output)
 * → the OpenAPI 3.0 subset the Gemini API accepts in `FunctionDeclaration.parameters` and
 * `GenerationConfig.responseSchema`.
 *
 * Gemini's v1beta Schema knows: type, format, title, description, nullable, enum, default, items,
 * minItems, maxItems, properties, required, propertyOrdering, minProperties, maxProperties,
 * minLength, maxLength, pattern, minimum, maximum, anyOf. Anything else is an
 * `Unknown name "…"` 400, so the conversion keeps exactly those, rewriting what it can into them:
 *
 * - local `$ref`s (`#/$defs/X`, `#/definitions/X`, any JSON pointer into the document) are inlined;
 *   a reference to a schema that is already being expanded (a cycle) becomes `{type: OBJECT}`;
 * - `const` becomes a one-value `enum`; enum values are strings on the wire (non-string values are
 *   JSON-encoded, and a non-string type then gets `format: "enum"`, as the reference shows);
 * - `null` among the types, the enum values or the `anyOf`/`oneOf` branches becomes `nullable`;
 *   several other types become `anyOf` branches, each holding the keywords of its type;
 * - `oneOf` becomes `anyOf` (Gemini has no exclusive union); `allOf` is merged into one schema
 *   (properties and required joined, otherwise the first value wins);
 * - a missing type is inferred from `properties` (OBJECT), `items` (ARRAY) or the enum values;
 * - keywords that do not apply to the node's type are dropped (Gemini rejects, e.g., `properties`
 *   outside OBJECT), `required` keeps only names that exist in `properties`, `format` keeps only the
 *   documented ones (float/double, int32/int64, enum/date-time);
 * - everything else is dropped: `$schema`, `$id`, `$defs`, `$comment`, `additionalProperties`,
 *   `examples`, `exclusiveMinimum`, `multipleOf`, `uniqueItems`, `not`, `if`/`then`/`else`, …
 *
 * Pure: the input is not modified.
 */
export function toGeminiSchema(schema: JSONSchema): GeminiSchema {
  // The document itself is being expanded: `{$ref: "#"}` inside it is a cycle.
  return convert(schema, { root: schema, expanding: new Set(['#']) });
}

/** True for a schema that says nothing beyond "an object": Gemini wants such parameters left unset. */
export function isEmptyObjectSchema(s: GeminiSchema): boolean {
  return s.type === 'OBJECT' && !s.properties && !s.anyOf && !s.nullable && !s.description && !s.title && !s.enum;
}

interface Ctx {
  readonly root: unknown;
  /** The `$ref`s being expanded on the current path. */
  readonly expanding: Set<string>;
}

type Node = Record<string, unknown>;

const TYPES: Readonly<Record<string, GeminiType>> = {
  string: 'STRING',
  number: 'NUMBER',
  integer: 'INTEGER',
  boolean: 'BOOLEAN',
  array: 'ARRAY',
  object: 'OBJECT',
  null: 'NULL',
};

const FORMATS: Readonly<Partial<Record<GeminiType, readonly string[]>>> = {
  STRING: ['enum', 'date-time'],
  NUMBER: ['float', 'double'],
  INTEGER: ['int32', 'int64'],
};

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

function convert(input: unknown, ctx: Ctx): GeminiSchema {
  // `true`, `{}` and anything unreadable accept any value: a schema without a type says that.
  if (!isNode(input)) return {};
  if (typeof input.$ref === 'string') return convertRef(input, input.$ref, ctx);
  if (Array.isArray(input.allOf)) {
    const { allOf, ...own } = input;
    return merge([convert(own, ctx), ...allOf.map((s) => convert(s, ctx))]);
  }
  const alternatives = Array.isArray(input.anyOf) ? input.anyOf : Array.isArray(input.oneOf) ? input.oneOf : undefined;
  if (alternatives) {
    const { anyOf: _a, oneOf: _o, ...own } = input;
    return convertUnion(convert(own, ctx), alternatives.map((s) => convert(s, ctx)));
  }
  return convertPlain(input, ctx);
}

function convertRef(node: Node, ref: string, ctx: Ctx): GeminiSchema {
  const { $ref: _ref, ...siblings } = node;
  if (ctx.expanding.has(ref)) return { type: 'OBJECT', ...annotations(siblings) };
  const target = ref.startsWith('#') ? resolvePointer(ctx.root, ref.slice(1)) : undefined;
  // A reference the document cannot resolve (remote, or dangling) constrains nothing we can send.
  if (target === undefined) return convert(siblings, ctx);
  ctx.expanding.add(ref);
  try {
    // Keywords beside `$ref` (usually a description) apply too, and win over the target's.
    return convert(isNode(target) ? { ...target, ...siblings } : target, ctx);
  } finally {
    ctx.expanding.delete(ref);
  }
}

/** RFC 6901 pointer (already without the leading `#`), URI-decoded. */
function resolvePointer(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  if (!pointer.startsWith('/')) return undefined;
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isNode(cur)) cur = Object.prototype.hasOwnProperty.call(cur, key) ? cur[key] : undefined;
    else return undefined;
  }
  return cur;
}

function convertUnion(own: GeminiSchema, branches: GeminiSchema[]): GeminiSchema {
  const isNull = (b: GeminiSchema) => b.type === 'NULL' && Object.keys(b).length === 1;
  const rest = branches.filter((b) => !isNull(b));
  const nullable = rest.length < branches.length || branches.some((b) => b.nullable === true);
  let out: GeminiSchema;
  if (rest.length === 0) out = { ...own, type: own.type ?? 'NULL' };
  else if (rest.length === 1) out = merge([own, rest[0]!]);
  else out = { ...own, anyOf: rest };
  if (nullable && out.type !== 'NULL') out.nullable = true;
  return out;
}

/** Annotations every node may carry, whatever its type. */
function annotations(node: Node): GeminiSchema {
  const out: GeminiSchema = {};
  if (typeof node.title === 'string') out.title = node.title;
  if (typeof node.description === 'string') out.description = node.description;
  if ('default' in node && node.default !== undefined) out.default = node.default;
  return out;
}

function convertPlain(node: Node, ctx: Ctx): GeminiSchema {
  let nullable = node.nullable === true;
  let names = typeof node.type === 'string' ? [node.type] : Array.isArray(node.type) ? node.type.filter((t): t is string => typeof t === 'string') : [];
  if (names.length > 1 && names.includes('null')) {
    nullable = true;
    names = names.filter((t) => t !== 'null');
  }

  let values: unknown[] | undefined = 'const' in node ? [node.const] : Array.isArray(node.enum) ? node.enum : undefined;
  if (values?.includes(null)) {
    nullable = true;
    values = values.filter((v) => v !== null);
  }

  let types = [...new Set(names.map((t) => TYPES[t]).filter((t): t is GeminiType => t !== undefined))];
  if (types.length === 0) {
    const inferred = inferType(node, values);
    if (inferred) types = [inferred];
  }

  const out: GeminiSchema = annotations(node);
  if (types.length === 1) Object.assign(out, keywordsFor(types[0]!, node, values, ctx));
  else if (types.length > 1) out.anyOf = types.map((t) => keywordsFor(t, node, values, ctx));
  if (nullable && out.type !== 'NULL') out.nullable = true;
  return out;
}

function inferType(node: Node, values: unknown[] | undefined): GeminiType | undefined {
  if (isNode(node.properties) || Array.isArray(node.required)) return 'OBJECT';
  if (node.items !== undefined || node.prefixItems !== undefined) return 'ARRAY';
  if (values && values.length > 0) {
    if (values.every((v) => typeof v === 'string')) return 'STRING';
    if (values.every((v) => Number.isInteger(v))) return 'INTEGER';
    if (values.every((v) => typeof v === 'number')) return 'NUMBER';
    if (values.every((v) => typeof v === 'boolean')) return 'BOOLEAN';
  }
  return undefined;
}

/** The keywords of one type, taken from a JSON Schema node. */
function keywordsFor(type: GeminiType, node: Node, values: unknown[] | undefined, ctx: Ctx): GeminiSchema {
  const out: GeminiSchema = { type };
  const format = typeof node.format === 'string' && FORMATS[type]?.includes(node.format) ? node.format : undefined;
  if (format) out.format = format;
  if (values && values.length > 0 && type !== 'OBJECT' && type !== 'ARRAY' && type !== 'NULL') {
    out.enum = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    if (type !== 'STRING') out.format = 'enum';
  }
  switch (type) {
    case 'OBJECT': {
      if (isNode(node.properties)) {
        const properties: Record<string, GeminiSchema> = {};
        for (const [name, s] of Object.entries(node.properties)) properties[name] = convert(s, ctx);
        if (Object.keys(properties).length > 0) out.properties = properties;
        const names = new Set(Object.keys(properties));
        const required = Array.isArray(node.required) ? [...new Set(node.required.filter((r): r is string => typeof r === 'string' && names.has(r)))] : [];
        if (required.length > 0) out.required = required;
        const ordering = Array.isArray(node.propertyOrdering) ? node.propertyOrdering.filter((r): r is string => typeof r === 'string' && names.has(r)) : [];
        if (ordering.length > 0) out.propertyOrdering = ordering;
      }
      copyCount(out, 'minProperties', node.minProperties);
      copyCount(out, 'maxProperties', node.maxProperties);
      break;
    }
    case 'ARRAY': {
      const tuple = Array.isArray(node.prefixItems) ? node.prefixItems : Array.isArray(node.items) ? node.items : undefined;
      if (tuple) {
        // Gemini has no tuples: each element may be any of the positions' schemas.
        const branches = tuple.map((s) => convert(s, ctx));
        if (branches.length === 1) out.items = branches[0]!;
        else if (branches.length > 1) out.items = { anyOf: branches };
      } else if (node.items !== undefined) {
        out.items = convert(node.items, ctx);
      }
      copyCount(out, 'minItems', node.minItems);
      copyCount(out, 'maxItems', node.maxItems);
      break;
    }
    case 'STRING':
      copyCount(out, 'minLength', node.minLength);
      copyCount(out, 'maxLength', node.maxLength);
      if (typeof node.pattern === 'string') out.pattern = node.pattern;
      break;
    case 'NUMBER':
    case 'INTEGER':
      if (typeof node.minimum === 'number') out.minimum = node.minimum;
      if (typeof node.maximum === 'number') out.maximum = node.maximum;
      break;
    case 'BOOLEAN':
    case 'NULL':
      break;
  }
  return out;
}

function copyCount(out: GeminiSchema, key: 'minItems' | 'maxItems' | 'minProperties' | 'maxProperties' | 'minLength' | 'maxLength', v: unknown): void {
  const n = count(v);
  if (n !== undefined) out[key] = n;
}

/**
 * `allOf` (and a union with a single non-null branch) → one schema: properties and required are
 * joined, any other keyword keeps its first value.
 */
function merge(schemas: readonly GeminiSchema[]): GeminiSchema {
  const out: GeminiSchema = {};
  const properties: Record<string, GeminiSchema> = {};
  const required = new Set<string>();
  for (const s of schemas) {
    for (const [key, value] of Object.entries(s) as [keyof GeminiSchema, unknown][]) {
      if (key === 'properties') {
        for (const [name, p] of Object.entries(value as Record<string, GeminiSchema>)) properties[name] ??= p;
      } else if (key === 'required') {
        for (const r of value as string[]) required.add(r);
      } else if (out[key] === undefined) {
        (out as Record<string, unknown>)[key] = value;
      }
    }
  }
  if (Object.keys(properties).length > 0) {
    out.type ??= 'OBJECT';
    if (out.type === 'OBJECT') {
      out.properties = properties;
      const names = [...required].filter((r) => r in properties);
      if (names.length > 0) out.required = names;
      else delete out.required;
    }
  }
  return out;
}
