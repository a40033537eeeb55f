import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * The URL of tsx's ESM API (`tsImport`), found the way Node finds the package from this file —
 * wherever node_modules is — through the package's own exports map (its CommonJS build cannot
 * load the ESM hooks from a worker).
 */
function tsxImportApi(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(manifest), pkg.exports['./esm/api']!.import.default)).href;
}

/**
 * Starts the thread module `name` (no extension) that sits beside the module at `base` (its
 * `import.meta.url`). From compiled output the thread is plain JavaScript; from source (tests,
 * `npm run dev`) it is TypeScript, loaded through tsx's API.
 */
export function startThread(base: string, name: string, options: WorkerOptions = {}): Worker {
  if (base.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, base).href;
    const boot = `import(${JSON.stringify(tsxImportApi())}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(base)}))`;
    return new Worker(boot, { ...options, eval: true });
  }
  return new Worker(new URL(`./${name}.js`, base), options);
}
