/**
 * Builds the console (web/dist) for the browser suites when it is missing or older than its
 * sources. Several suites run at once in vitest's workers: a build directory lock makes one of
 * them build while the others wait, since two `vite build`s emptying the same web/dist would
 * leave each other half a console.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Under test-results/, which git ignores. */
const LOCK = join(ROOT, 'test-results', '.console-build-lock');
/** A lock older than this was left by a killed run. */
const STALE_MS = 120_000;

/** Newest modification time under a path (file or directory). */
function newest(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((n) => newest(join(path, n))));
}

function fresh(): boolean {
  const index = join(ROOT, 'web', 'dist', 'index.html');
  const sources = Math.max(newest(join(ROOT, 'web', 'src')), newest(join(ROOT, 'web', 'index.html')), newest(join(ROOT, 'web', 'vite.config.ts')));
  return existsSync(index) && statSync(index).mtimeMs >= sources;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function ensureConsoleBuilt(): void {
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  while (!fresh()) {
    try {
      mkdirSync(LOCK);
    } catch {
      // Another suite is building: wait for it, then look again.
      const since = existsSync(LOCK) ? Date.now() - statSync(LOCK).mtimeMs : 0;
      if (since > STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      sleep(200);
      continue;
    }
    try {
      if (!fresh()) {
        execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
      }
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
    return;
  }
}
