/**
 * `{{ var }}` substitution as promptfoo's nunjucks prompts use it, without a template engine:
 * a suite is data, so nothing in it runs as code. Supported: `{{ name }}`, `{{ a.b.c }}`,
 * `{{ a[0] }}` and the filters `dump` (JSON), `trim`, `upper`, `lower`. A missing variable renders
 * empty, as nunjucks does; any other `{{ … }}` or `{% … %}` is an error naming the template.
 */
import { SuiteError } from './types.js';

export type Vars = Readonly<Record<string, unknown>>;

/**
 * `{{ … }}` tags, and the start of a `{% … %}` statement, whose end tags() finds itself: as one
 * lazy regex (`{%[\s\S]*?%}`) an unclosed `{%` rescans the rest of the text from each of its
 * occurrences, quadratic in a hostile suite (40 KB of `{%` took 1.4 s, 5 MB would take hours).
 */
const TAG = /\{\{([^{}]*)\}\}|\{%/g;
const REF = /^\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*)\s*((?:\|\s*[a-z]+\s*)*)$/;
const FILTERS: Record<string, (v: unknown) => unknown> = {
  dump: (v) => JSON.stringify(v ?? null),
  trim: (v) => text(v).trim(),
  upper: (v) => text(v).toUpperCase(),
  lower: (v) => text(v).toLowerCase(),
};

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function lookup(vars: Vars, path: string): unknown {
  let v: unknown = vars;
  for (const key of path.split(/\.|\[|\]/).filter(Boolean)) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

interface Tag {
  readonly index: number;
  readonly end: number;
  /** What is between `{{` and `}}`; undefined for a `{% … %}` statement. */
  readonly inner: string | undefined;
}

/** The tags of a template, left to right, in time linear in its length. */
function* tags(template: string): Generator<Tag> {
  const lastClose = template.lastIndexOf('%}');
  const re = new RegExp(TAG.source, 'g');
  for (let m = re.exec(template); m; m = re.exec(template)) {
    if (m[1] !== undefined) {
      yield { index: m.index, end: m.index + m[0].length, inner: m[1] };
      continue;
    }
    // `{%` closed by the first `%}` after it, if any; with no `%}` further on, it is plain text.
    if (lastClose < m.index + 2) continue;
    const close = template.indexOf('%}', m.index + 2);
    yield { index: m.index, end: close + 2, inner: undefined };
    re.lastIndex = close + 2;
  }
}

/** Checks a template once, at load, so a bad tag is a suite error before anything is called. */
export function checkTemplate(template: string, where: string): void {
  for (const t of tags(template)) {
    if (t.inner === undefined) throw new SuiteError(`${where}: '${template.slice(t.index, Math.min(t.end, t.index + 40))}' — template statements ({% … %}) are not supported, only {{ var }}`);
    const ref = REF.exec(t.inner);
    if (!ref) throw new SuiteError(`${where}: '{{${t.inner.slice(0, 40)}}}' is not a variable reference (only {{ name }}, {{ a.b }}, {{ a[0] }} and the filters dump, trim, upper, lower)`);
    for (const f of ref[2]!.split('|').map((s) => s.trim()).filter(Boolean)) {
      if (!FILTERS[f]) throw new SuiteError(`${where}: unknown filter '${f}' (known: ${Object.keys(FILTERS).join(', ')})`);
    }
  }
}

export function render(template: string, vars: Vars): string {
  let out = '';
  let at = 0;
  for (const t of tags(template)) {
    const ref = t.inner === undefined ? null : REF.exec(t.inner);
    // A statement or anything but a variable reference stays as written.
    if (!ref) continue;
    let v = lookup(vars, ref[1]!);
    for (const f of ref[2]!.split('|').map((s) => s.trim()).filter(Boolean)) v = FILTERS[f]!(v);
    out += template.slice(at, t.index) + text(v);
    at = t.end;
  }
  return at === 0 ? template : out + template.slice(at);
}
