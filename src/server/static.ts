import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubError } from '../core/errors.js';
import { openAIErrorBody } from '../protocols/openai-chat/errors.js';
import { sendJSON } from './http.js';

/** The console's build output, next to the package (web/dist), whether run from src or dist. */
const ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const cache = new Map<string, Buffer>();

/** Whether the console has been built (checked once, at start-up, for the banner). */
export function consoleBuilt(): boolean {
  return existsSync(join(ROOT, 'index.html'));
}

/** Serves the console: `/` is index.html, `/assets/*` are content-hashed and cached for a year. */
export async function serveStatic(res: ServerResponse, path: string): Promise<void> {
  const rel = path === '/' ? 'index.html' : normalize(path).replace(/^([/\\])+/, '');
  if (rel.includes('..')) return sendJSON(res, 404, openAIErrorBody(new HubError('not_found', 'Not found.')));
  let body = cache.get(rel);
  if (!body) {
    try {
      body = await readFile(join(ROOT, rel));
      cache.set(rel, body);
    } catch {
      const hint = rel === 'index.html' ? ' The console is not built: run `npm run build:web` (npm install does it).' : '';
      return sendJSON(res, 404, openAIErrorBody(new HubError('not_found', `Not found: ${path}.${hint}`)));
    }
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(rel)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}
