/**
 * `baimo kb add`'s progress on stderr, as a person reads it: on a terminal one line redrawn in
 * place; elsewhere (CI logs, pipes) a line each time another 10% of the files is done, so a log
 * is not flooded. A file is done once ingested, failed (locally, at upload or at ingestion) or
 * cancelled.
 */
import { clock, lineProgress } from '../core/progress.js';
import type { ProgressOut, ProgressWriter } from '../core/progress.js';

export interface KbProgress {
  readonly done: number;
  /**
   * Of `done`, those the hub finished (ingested, failed or cancelled): the ETA's pace. Files failed
   * locally are done at once and would make the rest look quick. Default: all of `done`.
   */
  readonly paced?: number;
  readonly total: number;
  readonly failed: number;
  /** Bytes uploaded so far. */
  readonly bytes: number;
  readonly elapsedMs: number;
}

/** 1.2 MB, 340 KB, 12 B: decimal units, as file sizes are usually shown. */
export function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} KB`;
  return `${bytes} B`;
}

/** `[=====>    ] 12/40 files · 3 failed · 1.2 MB · ETA 0:14` */
export function kbProgressLine(p: KbProgress, width = 24): string {
  const frac = p.total ? Math.min(1, p.done / p.total) : 1;
  const filled = Math.floor(frac * width);
  const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
  const paced = p.paced ?? p.done;
  const eta = p.done >= p.total ? '0:00' : paced > 0 ? clock((p.elapsedMs / paced) * (p.total - p.done)) : '–';
  return `[${bar}] ${p.done}/${p.total} files · ${p.failed} failed · ${size(p.bytes)} · ETA ${eta}`;
}

export type KbProgressWriter = ProgressWriter<KbProgress>;

export function kbProgressWriter(out: ProgressOut): KbProgressWriter {
  return lineProgress(out, (p: KbProgress) => kbProgressLine(p));
}
