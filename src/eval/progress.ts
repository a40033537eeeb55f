/**
 * The run's progress as a person reads it on stderr: on a terminal, one line redrawn in place
 * (bar, done/total, ETA, spend, failures); elsewhere (CI logs), one line each time another 10% is
 * done, so a log is not flooded.
 */
import { clock, lineProgress } from '../core/progress.js';
import type { ProgressOut, ProgressWriter } from '../core/progress.js';
import type { Progress } from './run.js';

export function progressLine(p: Progress, width = 24): string {
  const frac = p.total ? p.done / p.total : 1;
  const filled = Math.round(frac * width);
  const eta = p.done > 0 && p.done < p.total ? clock((p.elapsedMs / p.done) * (p.total - p.done)) : p.done >= p.total ? '0:00' : '–';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} · ETA ${eta} · $${p.spentUsd.toFixed(4)} · ${p.failures} failed`;
}

/** A progress callback writing to `out`: redrawn on a TTY, a line per 10% elsewhere. */
export function progressWriter(out: ProgressOut): ProgressWriter<Progress> {
  return lineProgress(out, (p: Progress) => progressLine(p));
}
