/**
 * Progress of a long command as a person reads it on stderr: on a terminal, one line redrawn in
 * place; elsewhere (CI logs, pipes), one line each time another 10% is done, so a log is not
 * flooded. What the line says is the caller's (`baimo eval`, `baimo kb`).
 */

export interface ProgressOut {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressWriter<P> {
  update(p: P): void;
  /** A line of its own (a note, a failure) without garbling the redrawn bar. */
  note(line: string): void;
  end(): void;
}

/** A duration as m:ss, or h:mm:ss. */
export function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Writes `line(p)` for each update to `out`, redrawn on a TTY, a line per 10% elsewhere. */
export function lineProgress<P extends { readonly done: number; readonly total: number }>(out: ProgressOut, line: (p: P) => string): ProgressWriter<P> {
  let lastDecile = -1;
  let last: P | undefined;
  let drawn = false;
  return {
    update(p) {
      last = p;
      if (out.isTTY) {
        out.write(`\r\x1b[2K${line(p)}`);
        drawn = true;
        return;
      }
      const decile = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${line(p)}\n`);
      }
    },
    note(text) {
      if (drawn) {
        out.write(`\r\x1b[2K${text}\n`);
        if (last) out.write(line(last));
      } else out.write(`${text}\n`);
    },
    end() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
