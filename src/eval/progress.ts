/**
 * The run's progress as a person reads it on stderr: on a terminal, one line redrawn in place
 * (bar, done/total, ETA, spend, failures); elsewhere (CI logs), one line each time another 10% is
 * done, so a log is not flooded.
 */
import type { Progress } from './run.js';

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function progressLine(p: Progress, width = 24): string {
  const frac = p.total ? p.done / p.total : 1;
  const filled = Math.round(frac * width);
  const eta = p.done > 0 && p.done < p.total ? clock((p.elapsedMs / p.done) * (p.total - p.done)) : p.done >= p.total ? '0:00' : '–';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} · ETA ${eta} · $${p.spentUsd.toFixed(4)} · ${p.failures} failed`;
}

/** A progress callback writing to `out`: redrawn on a TTY, a line per 10% elsewhere. */
export function progressWriter(out: { write(s: string): unknown; isTTY?: boolean }): { update(p: Progress): void; end(): void } {
  let lastDecile = -1;
  let drawn = false;
  return {
    update(p) {
      if (out.isTTY) {
        out.write(`\r\x1b[2K${progressLine(p)}`);
        drawn = true;
        return;
      }
      const decile = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${progressLine(p)}\n`);
      }
    },
    end() {
      if (drawn) out.write('\n');
    },
  };
}
