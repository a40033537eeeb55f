/**
 * The benchmark's own chunker, for the in-process baseline rows only (the hub rows use the hub's
 * ingestion). Markdown-aware like the hub's is meant to be: a chunk never spans two sections;
 * a section is packed paragraph by paragraph (then sentence by sentence) up to `maxTokens`, and
 * the next chunk of the same section starts with the previous one's last sentences up to
 * `overlapTokens`. The header (title › section path) is returned apart from the text, so the
 * baseline can be scored with contextual headers and without.
 */
export interface BenchChunk {
  readonly name: string;
  readonly seq: number;
  readonly header: string;
  readonly text: string;
}

export interface Chunking {
  readonly maxTokens: number;
  readonly overlapTokens: number;
}

interface Section {
  readonly path: string[];
  readonly paragraphs: string[];
}

/** Markdown into sections: each heading starts one; its own text leads the section's first paragraph. */
function sections(markdown: string, fallbackTitle: string): { title: string; sections: Section[] } {
  let title = fallbackTitle;
  const path: string[] = [];
  const out: Section[] = [];
  let cur: Section = { path: [], paragraphs: [] };
  let para: string[] = [];
  const flush = () => {
    if (para.length) cur.paragraphs.push(para.join(' '));
    para = [];
  };
  for (const line of markdown.split('\n')) {
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      if (cur.paragraphs.length) out.push(cur);
      const level = h[1]!.length;
      const text = h[2]!.trim();
      if (level === 1 && title === fallbackTitle) title = text;
      path.length = Math.max(0, level - 1);
      path[level - 1] = text;
      cur = { path: path.filter(Boolean), paragraphs: [text] };
      flush();
    } else if (!line.trim()) flush();
    else para.push(line.trim());
  }
  flush();
  if (cur.paragraphs.length) out.push(cur);
  return { title, sections: out };
}

/** Sentences, Chinese and English, each keeping its end mark. */
export function sentences(paragraph: string): string[] {
  return paragraph.match(/[^。！？；.!?]+(?:[。！？；]+|[.!?]+(?=\s|$)|$)\s*/g)?.map((s) => s.trim()).filter(Boolean) ?? [paragraph];
}

export function chunkMarkdown(name: string, markdown: string, o: Chunking, count: (text: string) => number): BenchChunk[] {
  const { title, sections: secs } = sections(markdown, name.replace(/\.\w+$/, ''));
  const out: BenchChunk[] = [];
  // Units are paragraphs (or, for a long one, its sentences): one per line.
  const join = (parts: readonly string[]) => parts.join('\n');
  for (const s of secs) {
    const header = [title, ...s.path.filter((p) => p !== title)].join(' › ');
    // Units: whole paragraphs where they fit, otherwise their sentences.
    const units = s.paragraphs.flatMap((p) => (count(p) <= o.maxTokens ? [p] : sentences(p)));
    let cur: string[] = [];
    // True while `cur` holds only the previous chunk's overlap (nothing new to emit yet).
    let overlapOnly = true;
    // Sizes are counted on the joined text, separators included, as the index will see it.
    const size = (parts: readonly string[]) => count(join(parts));
    const emit = () => {
      out.push({ name, seq: out.length, header, text: join(cur) });
      // Overlap: the last sentences of what was emitted, up to overlapTokens.
      const sents = cur.flatMap(sentences);
      let tail: string[] = [];
      for (let i = sents.length - 1; i >= 0 && size([sents[i]!, ...tail]) <= o.overlapTokens; i--) tail = [sents[i]!, ...tail];
      cur = tail;
      overlapOnly = true;
    };
    for (const u of units) {
      if (cur.length && size([...cur, u]) > o.maxTokens) {
        if (overlapOnly) cur = []; // the overlap and this unit do not fit together: the unit starts afresh
        else {
          emit();
          if (size([...cur, u]) > o.maxTokens) cur = [];
        }
      }
      cur.push(u);
      overlapOnly = false;
    }
    if (!overlapOnly) emit();
  }
  return out.map((c, seq) => ({ ...c, seq }));
}
