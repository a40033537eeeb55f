/**
 * `baimo kb add`'s progress on stderr, as a person reads it: on a terminal one line redrawn in
 * place; elsewhere (CI logs, pipes) a line each time another 10% of the files is done, so a log
 * is not flooded. A file is done once ingested, failed (locally, at upload or at ingestion) or
 * cancelled.
 */

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

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
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

export interface ProgressOut {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

export interface KbProgressWriter {
  update(p: KbProgress): void;
  /** A line of its own (a note, a failure) without garbling the redrawn bar. */
  note(line: string): void;
  end(): void;
}

export function kbProgressWriter(out: ProgressOut): KbProgressWriter {
  let lastDecile = -1;
  let last: KbProgress | undefined;
  let drawn = false;
  return {
    update(p) {
      last = p;
      if (out.isTTY) {
        out.write(`\r\x1b[2K${kbProgressLine(p)}`);
        drawn = true;
        return;
      }
      const decile = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${kbProgressLine(p)}\n`);
      }
    },
    note(line) {
      if (drawn) {
        out.write(`\r\x1b[2K${line}\n`);
        if (last) out.write(kbProgressLine(last));
      } else out.write(`${line}\n`);
    },
    end() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
