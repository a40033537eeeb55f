/**
 * The benchmark's data: the corpus (corpus/*.md, written for this benchmark) and the judged
 * queries (queries.jsonl). Relevance is judged by exact quotes rather than chunk ids, so the
 * same judgements score any chunking: a retrieved chunk counts when it holds a quote (judge.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const HERE = new URL('.', import.meta.url).pathname;

export type Lang = 'zh' | 'en';
/**
 * lexical: shares words with the passage. segmentation: a Chinese word inside longer Chinese
 * text (what raw FTS5 cannot find). semantic: paraphrase or cross-lingual, no shared content
 * word. header: the passage alone is ambiguous; the document title disambiguates.
 */
export type Kind = 'lexical' | 'segmentation' | 'semantic' | 'header';
export const KINDS: readonly Kind[] = ['lexical', 'segmentation', 'semantic', 'header'];
export const LANGS: readonly Lang[] = ['zh', 'en'];

export interface Quote {
  /** Relative to bench/knowledge/, e.g. corpus/zh-yangtze.md. */
  readonly file: string;
  readonly quote: string;
}

export interface Query {
  readonly id: string;
  readonly lang: Lang;
  readonly query: string;
  readonly relevant: readonly Quote[];
  readonly kind: Kind;
}

export interface Doc {
  /** Relative path, as queries name it. */
  readonly file: string;
  /** The file name alone: what a vector store reports as `filename`. */
  readonly name: string;
  readonly lang: Lang;
  readonly text: string;
}

/** A document's language by its content: Chinese when Han characters outnumber Latin words. */
export function docLang(text: string): Lang {
  return hanCount(text) > wordCount(text) ? 'zh' : 'en';
}

export function hanCount(text: string): number {
  return text.match(/\p{Script=Han}/gu)?.length ?? 0;
}

export function wordCount(text: string): number {
  return text.match(/[A-Za-z][A-Za-z'’-]*/g)?.length ?? 0;
}

export function loadCorpus(dir = join(HERE, 'corpus')): Doc[] {
  return readdirSync(dir)
    .filter((f) => /\.(md|txt|html)$/.test(f))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), 'utf8');
      return { file: `corpus/${name}`, name, lang: docLang(text), text };
    });
}

/** Parses queries.jsonl; a malformed line is an error naming its line number. */
export function loadQueries(path = join(HERE, 'queries.jsonl')): Query[] {
  const out: Query[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new Error(`queries.jsonl line ${i + 1}: not JSON`);
      }
      const q = v as Partial<Query>;
      const ok =
        typeof q.id === 'string' &&
        (q.lang === 'zh' || q.lang === 'en') &&
        typeof q.query === 'string' &&
        KINDS.includes(q.kind as Kind) &&
        Array.isArray(q.relevant) &&
        q.relevant.length > 0 &&
        q.relevant.every((r) => typeof r?.file === 'string' && typeof r?.quote === 'string');
      if (!ok) throw new Error(`queries.jsonl line ${i + 1}: expected {id, lang: zh|en, query, relevant: [{file, quote}…], kind: ${KINDS.join('|')}}`);
      out.push(q as Query);
    });
  return out;
}

/** The minimums the benchmark promises (issue 19 and its brief). */
export const MIN = { docs: 40, queries: 100, perLang: 50, segmentation: 20, semantic: 20, header: 10, quoteChars: 10, docWords: 300, docWordsMax: 1500 } as const;

export interface DatasetReport {
  readonly problems: string[];
  readonly docs: { total: number; zh: number; en: number };
  readonly queries: { total: number; zh: number; en: number; byKind: Record<Kind, number> };
}

/**
 * Everything the judgements rely on: sizes and counts, and every quote found verbatim in its
 * file (and on one line, without markdown syntax, so any extractor keeps it whole).
 */
export function validateDataset(docs: readonly Doc[], queries: readonly Query[]): DatasetReport {
  const problems: string[] = [];
  const byFile = new Map(docs.map((d) => [d.file, d]));
  const docsZh = docs.filter((d) => d.lang === 'zh').length;
  if (docs.length < MIN.docs) problems.push(`${docs.length} documents, want ≥ ${MIN.docs}`);
  for (const d of docs) {
    const size = d.lang === 'zh' ? hanCount(d.text) : wordCount(d.text);
    if (size < MIN.docWords || size > MIN.docWordsMax) problems.push(`${d.file}: ${size} ${d.lang === 'zh' ? '字' : 'words'}, want ${MIN.docWords}–${MIN.docWordsMax}`);
    if (!/^#{1,6} \S/m.test(d.text) && d.name.endsWith('.md')) problems.push(`${d.file}: no heading`);
  }
  const ids = new Set<string>();
  const byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  for (const q of queries) {
    if (ids.has(q.id)) problems.push(`${q.id}: duplicate id`);
    ids.add(q.id);
    byKind[q.kind]++;
    if (q.kind === 'segmentation' && q.lang !== 'zh') problems.push(`${q.id}: segmentation queries are Chinese`);
    if (docLang(q.query) !== q.lang && q.lang === 'zh') problems.push(`${q.id}: lang zh but the query is not Chinese`);
    for (const r of q.relevant) {
      const d = byFile.get(r.file);
      if (!d) {
        problems.push(`${q.id}: no such file ${r.file}`);
        continue;
      }
      if ([...r.quote].length < MIN.quoteChars) problems.push(`${q.id}: quote shorter than ${MIN.quoteChars} characters: ${r.quote}`);
      if (/[\n*`#[\]<>|]/.test(r.quote)) problems.push(`${q.id}: quote holds a line break or markdown syntax: ${r.quote}`);
      if (!d.text.includes(r.quote)) problems.push(`${q.id}: quote not found verbatim in ${r.file}: ${r.quote}`);
    }
  }
  const qZh = queries.filter((q) => q.lang === 'zh').length;
  const qEn = queries.length - qZh;
  if (queries.length < MIN.queries) problems.push(`${queries.length} queries, want ≥ ${MIN.queries}`);
  if (qZh < MIN.perLang || qEn < MIN.perLang) problems.push(`${qZh} Chinese and ${qEn} English queries, want ≥ ${MIN.perLang} each`);
  for (const k of ['segmentation', 'semantic', 'header'] as const) {
    if (byKind[k] < MIN[k]) problems.push(`${byKind[k]} ${k} queries, want ≥ ${MIN[k]}`);
  }
  return { problems, docs: { total: docs.length, zh: docsZh, en: docs.length - docsZh }, queries: { total: queries.length, zh: qZh, en: qEn, byKind } };
}

/** The file name a search result reports for a quote's file. */
export function quoteName(q: Quote): string {
  return basename(q.file);
}
