/**
 * `{{ var }}` substitution as promptfoo's nunjucks prompts use it, without a template engine:
 * a suite is data, so nothing in it runs as code. Supported: `{{ name }}`, `{{ a.b.c }}`,
 * `{{ a[0] }}` and the filters `dump` (JSON), `trim`, `upper`, `lower`. A missing variable renders
 * empty, as nunjucks does; any other `{{ … }}` or `{% … %}` is an error naming the template.
 */
import { SuiteError } from './types.js';

export type Vars = Readonly<Record<string, unknown>>;

const TAG = /\{\{([^{}]*)\}\}|\{%[\s\S]*?%\}/g;
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

/** Checks a template once, at load, so a bad tag is a suite error before anything is called. */
export function checkTemplate(template: string, where: string): void {
  for (const m of template.matchAll(TAG)) {
    if (m[1] === undefined) throw new SuiteError(`${where}: '${m[0].slice(0, 40)}' — template statements ({% … %}) are not supported, only {{ var }}`);
    const ref = REF.exec(m[1]);
    if (!ref) throw new SuiteError(`${where}: '{{${m[1].slice(0, 40)}}}' is not a variable reference (only {{ name }}, {{ a.b }}, {{ a[0] }} and the filters dump, trim, upper, lower)`);
    for (const f of ref[2]!.split('|').map((s) => s.trim()).filter(Boolean)) {
      if (!FILTERS[f]) throw new SuiteError(`${where}: unknown filter '${f}' (known: ${Object.keys(FILTERS).join(', ')})`);
    }
  }
}

export function render(template: string, vars: Vars): string {
  return template.replace(TAG, (whole, inner: string | undefined) => {
    if (inner === undefined) return whole;
    const ref = REF.exec(inner);
    if (!ref) return whole;
    let v = lookup(vars, ref[1]!);
    for (const f of ref[2]!.split('|').map((s) => s.trim()).filter(Boolean)) v = FILTERS[f]!(v);
    return text(v);
  });
}
