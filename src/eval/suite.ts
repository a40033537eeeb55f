/**
 * Suites: promptfoo-shaped YAML (https://www.promptfoo.dev/docs/configuration/reference/), read
 * into a plain, checked form before anything is called. Every problem is a SuiteError naming the
 * YAML path (`tests[3].assert[0].type: …`). What this reader adds to promptfoo's shape: providers
 * are hub model names (virtual models included); `threshold` at the top is the fraction of
 * cases that must pass (default all); `maxCostUsd` caps the run's spend.
 *
 * Files (`tests: file://cases.csv`, `.jsonl`, `.yaml`/`.json`; prompts from `.txt`/`.md`/`.json`) resolve against the suite's
 * folder and must stay inside its folder tree (symbolic links followed): a suite handed over
 * by someone else cannot read the rest of the disk into prompts. Limits: a suite or data file at
 * most 16 MB, at most 100,000 tests and 50,000 calls planned (cases × prompts × providers × repeat).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse as parseCSV } from 'csv-parse/sync';
import { parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { issuePath } from '../core/issue-path.js';
import { assertionKinds, checkAssertion } from './assertions/index.js';
import { checkTemplate } from './template.js';
import { SuiteError } from './types.js';

export const LIMITS = { fileBytes: 16 * 1024 * 1024, tests: 100_000, calls: 50_000, repeat: 100 } as const;

const modelName = z.string().min(1).max(256);
const grader = z.union([modelName, z.object({ id: modelName }).strict()]);
const optionsSchema = z
  .object({
    /** The grader for model-graded assertions: a model name, or text and embedding models apart. */
    provider: z.union([grader, z.object({ text: grader.optional(), embedding: grader.optional() }).strict()]).optional(),
  })
  .strict();

const assertionSchema = z
  .object({
    type: z.string().min(1),
    value: z.unknown().optional(),
    threshold: z.number().finite().optional(),
    weight: z.number().finite().min(0).optional(),
    provider: grader.optional(),
    metric: z.string().max(200).optional(),
  })
  .strict();

const varsSchema = z.record(z.string(), z.unknown());
const testSchema = z
  .object({
    description: z.string().optional(),
    vars: varsSchema.optional(),
    assert: z.array(assertionSchema).optional(),
    options: optionsSchema.optional(),
    threshold: z.number().min(0).max(1).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** Only these providers (label, id, or `prefix*`), as promptfoo's test-level filter. */
    providers: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

const message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).strict();
const promptSchema = z.union([z.string().min(1), z.array(message).min(1), z.object({ raw: z.union([z.string().min(1), z.array(message).min(1)]), label: z.string().optional() }).strict()]);

const toolSchema = z
  .object({ type: z.literal('function'), function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }).strict() })
  .strict();
const providerConfig = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
    top_p: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    stop: z.array(z.string()).optional(),
    tools: z.array(toolSchema).optional(),
    tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })]).optional(),
  })
  .strict();
const providerSchema = z.union([modelName, z.object({ id: modelName, label: z.string().optional(), config: providerConfig.optional() }).strict()]);

const suiteSchema = z
  .object({
    description: z.string().optional(),
    prompts: z.union([z.string().min(1), z.array(promptSchema).min(1)]),
    providers: z.union([modelName, z.array(providerSchema).min(1)]),
    defaultTest: testSchema.optional(),
    tests: z.union([z.string(), z.array(z.union([testSchema, z.string()]))]).optional(),
    threshold: z.number().min(0).max(1).optional(),
    maxCostUsd: z.number().positive().optional(),
    evaluateOptions: z.object({ maxConcurrency: z.number().int().min(1).max(64).optional(), repeat: z.number().int().min(1).max(LIMITS.repeat).optional(), cache: z.boolean().optional() }).strict().optional(),
    // promptfoo keys that say nothing about what to run: accepted and ignored.
    tags: z.record(z.string(), z.string()).optional(),
    outputPath: z.unknown().optional(),
    sharing: z.unknown().optional(),
    writeLatestResults: z.unknown().optional(),
  })
  .strict();

type RawTest = z.infer<typeof testSchema>;
export type Assertion = z.infer<typeof assertionSchema> & { readonly weight: number };
export type ChatTemplate = readonly { readonly role: 'system' | 'user' | 'assistant'; readonly content: string }[];

export interface Prompt {
  readonly label: string;
  /** Chat messages whose contents are templates; a plain prompt is one user message. */
  readonly messages: ChatTemplate;
}

export interface Provider {
  readonly id: string;
  readonly label: string;
  readonly config: z.infer<typeof providerConfig>;
}

export interface TestCase {
  readonly description: string | undefined;
  readonly vars: Readonly<Record<string, unknown>>;
  readonly assert: readonly Assertion[];
  readonly threshold: number | undefined;
  /** The grader models (defaultTest.options merged with the test's). */
  readonly grader: string | undefined;
  readonly embedder: string | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  /** Indexes of the suite's providers this test runs on (all unless the test names some). */
  readonly providers: readonly number[];
}

export interface Suite {
  readonly file: string;
  readonly description: string | undefined;
  readonly prompts: readonly Prompt[];
  readonly providers: readonly Provider[];
  readonly tests: readonly TestCase[];
  readonly threshold: number;
  readonly maxCostUsd: number | undefined;
  readonly concurrency: number | undefined;
  readonly repeat: number | undefined;
  readonly cache: boolean | undefined;
}

function issues(error: z.ZodError, prefix: string): SuiteError {
  const lines = error.issues.slice(0, 10).map((i) => {
    const inner = issuePath(i.path);
    const path = (prefix && inner ? `${prefix}${typeof i.path[0] === 'number' ? '' : '.'}${inner}` : prefix || inner) || '(root)';
    const msg = i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message.replace(/^Invalid input: /, '');
    return `  - ${path}: ${msg}`;
  });
  return new SuiteError(`Invalid suite:\n${lines.join('\n')}${error.issues.length > 10 ? `\n  … and ${error.issues.length - 10} more` : ''}`);
}

/** Reads a file the suite names: inside the suite's folder tree, at most `LIMITS.fileBytes`. */
function readInside(root: string, ref: string, where: string): { path: string; text: string } {
  const name = ref.replace(/^file:\/\//, '');
  if (!name) throw new SuiteError(`${where}: empty file:// path`);
  const path = resolve(root, name);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new SuiteError(`${where}: file not found: ${name}`);
  }
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
    throw new SuiteError(`${where}: '${name}' is outside the suite's folder; a suite may only read files in its own folder tree`);
  }
  const st = statSync(real);
  if (!st.isFile()) throw new SuiteError(`${where}: '${name}' is not a file`);
  if (st.size > LIMITS.fileBytes) throw new SuiteError(`${where}: '${name}' is ${st.size} bytes; at most ${LIMITS.fileBytes}`);
  return { path: real, text: readFileSync(real, 'utf8') };
}

/**
 * A CSV `__expected` cell as promptfoo reads it: `type:value` for the assertion types that take
 * a string (`contains:Paris`, `not-icontains:x`, `regex:^\d+$`, `similar:text`, `llm-rubric:…`,
 * `grade:…` = llm-rubric; `contains-any:a,b` a list), a bare `is-json` / `is-refusal`, anything
 * else an `equals`.
 */
function expectedCell(cell: string): RawTest['assert'] & object {
  const trimmed = cell.trim();
  if (!trimmed) return [];
  if (/^(not-)?(is-json|is-refusal)$/.test(trimmed)) return [{ type: trimmed }];
  const m = /^(not-)?([a-z][a-z-]*):([\s\S]*)$/.exec(cell);
  if (m) {
    const type = m[2] === 'grade' ? 'llm-rubric' : m[2]!;
    // contains-any / contains-all take a comma-separated list in a cell, as in promptfoo.
    const list = type === 'contains-any' || type === 'contains-all';
    if (assertionKinds.has(type)) return [{ type: `${m[1] ?? ''}${type}`, value: list ? m[3]!.split(',').map((x) => x.trim()).filter(Boolean) : m[3]!.trim() }];
    if (['fn', 'javascript', 'python', 'eval'].includes(type)) throw new SuiteError(`'${type}:' assertions run code, which suites may not do`);
  }
  return [{ type: 'equals', value: cell }];
}

function csvTests(text: string, where: string): unknown[] {
  let rows: Record<string, string>[];
  try {
    rows = parseCSV(text, { columns: true, skip_empty_lines: true, bom: true, to: LIMITS.tests + 1 }) as Record<string, string>[];
  } catch (err) {
    throw new SuiteError(`${where}: not valid CSV (${(err as Error).message.slice(0, 200)})`);
  }
  if (rows.length > LIMITS.tests) throw new SuiteError(`${where}: more than ${LIMITS.tests} rows; split the data set`);
  return rows.map((row, i) => {
    const vars: Record<string, string> = {};
    const assert: NonNullable<RawTest['assert']> = [];
    const t: RawTest = {};
    for (const [col, cell] of Object.entries(row)) {
      if (/^__expected\d*$/.test(col)) {
        try {
          assert.push(...expectedCell(cell));
        } catch (err) {
          throw new SuiteError(`${where} row ${i + 1} ${col}: ${(err as Error).message}`);
        }
      } else if (col === '__description') t.description = cell;
      else if (col === '__threshold') t.threshold = Number(cell);
      else if (col.startsWith('__metadata:')) (t.metadata ??= {})[col.slice(11)] = cell;
      else if (col.startsWith('__')) throw new SuiteError(`${where}: unknown special column '${col}' (known: __expected, __expectedN, __description, __threshold, __metadata:NAME)`);
      else vars[col] = cell;
    }
    return { ...t, vars, ...(assert.length && { assert }) };
  });
}

function jsonlTests(text: string, where: string): unknown[] {
  const out: unknown[] = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    if (!raw.trim()) continue;
    if (out.length >= LIMITS.tests) throw new SuiteError(`${where}: more than ${LIMITS.tests} tests; split the data set`);
    try {
      out.push(JSON.parse(raw));
    } catch {
      throw new SuiteError(`${where} line ${line}: not valid JSON`);
    }
  }
  return out;
}

/**
 * The `yaml` package finds each alias's anchor by walking the whole document (Alias.resolve), so
 * converting costs aliases × nodes: 100,000 `*a` in a 300 KB suite took 203 s of the event loop.
 * Past this product a suite is refused before it is converted.
 */
const MAX_ALIAS_WORK = 10_000_000;

export function parseDoc(text: string, where: string): unknown {
  try {
    const doc = parseDocument(text, { prettyErrors: false });
    if (doc.errors.length) throw doc.errors[0];
    let nodes = 0;
    let aliases = 0;
    visit(doc, {
      Node() {
        nodes++;
      },
      Alias() {
        aliases++;
      },
    });
    if (aliases * (nodes + aliases) > MAX_ALIAS_WORK) throw new Error(`${aliases} aliases (*name) in a document of ${nodes} nodes: too many to resolve; write the values out or use defaultTest`);
    // Aliases are capped so that a few lines cannot expand into gigabytes (billion laughs).
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new SuiteError(`${where}: not valid YAML (${(err as Error).message.split('\n')[0]!.slice(0, 200)})`);
  }
}

/** The tests a `file://` reference holds, unchecked. */
function fileTests(root: string, ref: string, where: string): unknown[] {
  const { path, text } = readInside(root, ref, where);
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return csvTests(text, `${where} (${ref})`);
  if (ext === '.jsonl') return jsonlTests(text, `${where} (${ref})`);
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    const doc = parseDoc(text, `${where} (${ref})`);
    if (!Array.isArray(doc)) throw new SuiteError(`${where} (${ref}): expected a list of tests`);
    return doc;
  }
  throw new SuiteError(`${where}: '${ref}' is not a .csv, .jsonl, .yaml or .json file`);
}

function safeJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function graderOf(p: z.infer<typeof grader> | undefined): string | undefined {
  return p === undefined ? undefined : typeof p === 'string' ? p : p.id;
}

function graders(o: z.infer<typeof optionsSchema> | undefined): { text?: string; embedding?: string } {
  const p = o?.provider;
  if (p === undefined) return {};
  if (typeof p === 'string' || 'id' in p) return { text: graderOf(p), embedding: graderOf(p) };
  return { text: graderOf(p.text), embedding: graderOf(p.embedding) };
}

function toPrompt(root: string, p: z.infer<typeof promptSchema>, i: number): Prompt {
  let raw = typeof p === 'object' && !Array.isArray(p) ? p.raw : p;
  const label = typeof p === 'object' && !Array.isArray(p) && p.label ? p.label : typeof raw === 'string' ? raw.slice(0, 60) : `prompt ${i + 1}`;
  if (typeof raw === 'string') {
    // A prompt file (text, or a JSON list of chat messages), inside the suite's folder tree like any file.
    if (raw.startsWith('file://')) {
      const ref = raw;
      if (!/\.(txt|md|json)$/i.test(ref)) throw new SuiteError(`prompts[${i}]: '${ref}' is not a .txt, .md or .json file (prompt files that run code are not supported)`);
      raw = readInside(root, ref, `prompts[${i}]`).text;
      if (/\.json$/i.test(ref)) {
        const chat = z.array(message).min(1).safeParse(safeJSON(raw));
        if (!chat.success) throw new SuiteError(`prompts[${i}] (${ref}): expected a JSON list of {role, content} messages`);
        return { label, messages: chat.data };
      }
    }
    // A string holding a JSON list of messages is a chat prompt, as in promptfoo.
    if (/^\s*\[/.test(raw)) {
      const chat = z.array(message).min(1).safeParse(safeJSON(raw));
      if (chat.success) return { label, messages: chat.data };
    }
    return { label, messages: [{ role: 'user', content: raw }] };
  }
  return { label, messages: raw };
}

/** Loads and checks a suite file (see the file's comment). Throws SuiteError. */
export function loadSuite(file: string): Suite {
  const path = resolve(file);
  let text: string;
  try {
    const st = statSync(path);
    if (st.size > LIMITS.fileBytes) throw new SuiteError(`${file}: ${st.size} bytes; a suite is at most ${LIMITS.fileBytes}`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(`${file}: ${(err as { code?: string }).code === 'ENOENT' ? 'file not found' : 'cannot read the file'}`);
  }
  return parseSuite(parseDoc(text, file), path);
}

/** Checks a parsed suite document; `file` locates the files it names. */
export function parseSuite(doc: unknown, file: string): Suite {
  const root = realpathSync(dirname(file));
  const top = suiteSchema.safeParse(doc ?? {});
  if (!top.success) throw issues(top.error, '');
  const s = top.data;

  const prompts = (typeof s.prompts === 'string' ? [s.prompts] : s.prompts).map((p, i) => toPrompt(root, p, i));
  prompts.forEach((p, i) => p.messages.forEach((m, j) => checkTemplate(m.content, `prompts[${i}]${p.messages.length > 1 ? `[${j}]` : ''}`)));
  const providers = (typeof s.providers === 'string' ? [s.providers] : s.providers).map((p): Provider =>
    typeof p === 'string' ? { id: p, label: p, config: {} } : { id: p.id, label: p.label ?? p.id, config: p.config ?? {} },
  );

  // Tests: inline, or file:// references (the whole list, or entries of it).
  const rawTests: { test: unknown; where: string }[] = [];
  const refs = s.tests === undefined ? [] : typeof s.tests === 'string' ? [s.tests] : s.tests;
  refs.forEach((t, i) => {
    const where = typeof s.tests === 'string' ? 'tests' : `tests[${i}]`;
    if (typeof t === 'string') {
      if (!t.startsWith('file://')) throw new SuiteError(`${where}: a string entry must be a file:// path`);
      fileTests(root, t, where).forEach((x, j) => rawTests.push({ test: x, where: `${where} (${t}) [${j}]` }));
    } else rawTests.push({ test: t, where });
    if (rawTests.length > LIMITS.tests) throw new SuiteError(`tests: more than ${LIMITS.tests} tests; split the suite`);
  });
  if (rawTests.length === 0) rawTests.push({ test: {}, where: 'tests' });

  const d = s.defaultTest ?? {};
  const matches = (pattern: string, p: Provider) => (pattern.endsWith('*') ? p.id.startsWith(pattern.slice(0, -1)) || p.label.startsWith(pattern.slice(0, -1)) : p.id === pattern || p.label === pattern);
  const dGraders = graders(d.options);
  const tests = rawTests.map(({ test, where }): TestCase => {
    const r = testSchema.safeParse(test ?? {});
    if (!r.success) throw issues(r.error, where);
    const t = r.data;
    const g = { ...dGraders, ...Object.fromEntries(Object.entries(graders(t.options)).filter(([, v]) => v !== undefined)) };
    const assert = [...(d.assert ?? []), ...(t.assert ?? [])].map((a, i) => {
      const checked = { ...a, weight: a.weight ?? 1 };
      checkAssertion(checked, `${where}.assert[${i}]`);
      return checked;
    });
    const only = t.providers ?? d.providers;
    const on = providers.flatMap((p, i) => (!only || only.some((pat) => matches(pat, p)) ? [i] : []));
    if (on.length === 0) throw new SuiteError(`${where}.providers: ${JSON.stringify(only)} matches none of the suite's providers`);
    return {
      description: t.description,
      providers: on,
      vars: { ...(d.vars ?? {}), ...(t.vars ?? {}) },
      assert,
      threshold: t.threshold ?? d.threshold,
      grader: g.text,
      embedder: g.embedding,
      metadata: t.metadata,
    };
  });
  const calls = caseCount({ tests, prompts }) * (s.evaluateOptions?.repeat ?? 1);
  if (calls > LIMITS.calls) throw new SuiteError(`the suite plans ${calls} model calls (tests × prompts × providers × repeat); at most ${LIMITS.calls} per run`);
  return {
    file,
    description: s.description,
    prompts,
    providers,
    tests,
    threshold: s.threshold ?? 1,
    maxCostUsd: s.maxCostUsd,
    concurrency: s.evaluateOptions?.maxConcurrency,
    repeat: s.evaluateOptions?.repeat,
    cache: s.evaluateOptions?.cache,
  };
}

/** Every model a suite names: its providers, graders and embedding models, with where each is named. */
export function modelNames(s: Suite): Map<string, string> {
  const names = new Map<string, string>();
  const add = (name: string | undefined, where: string) => {
    if (name !== undefined && !names.has(name)) names.set(name, where);
  };
  s.providers.forEach((p, i) => add(p.id, `providers[${i}]`));
  s.tests.forEach((t, i) => {
    add(t.grader, `tests[${i}].options.provider`);
    add(t.embedder, `tests[${i}].options.provider.embedding`);
    t.assert.forEach((a, j) => add(typeof a.provider === 'string' ? a.provider : a.provider?.id, `tests[${i}].assert[${j}].provider`));
  });
  return names;
}

/** Cases planned: each test × each prompt × each provider the test runs on. */
export function caseCount(s: Pick<Suite, 'tests' | 'prompts'>): number {
  return s.tests.reduce((n, t) => n + t.providers.length, 0) * s.prompts.length;
}
