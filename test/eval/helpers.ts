/**
 * The gateway as `baimo eval run` hosts it (cli/local.ts), over the loopback OpenAI upstream, in
 * a data directory of its own; priced so that costs and the ceiling have something to count.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openLocalGateway } from '../../src/cli/local.js';
import type { LocalGateway } from '../../src/cli/local.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';

export const CONFIG = `providers:
  loop:
    baseURL: \${LOOP_URL}
    models: [gpt-test, grader, json, tools, slow-stream, pricey, error-400]
    embeddingModels: [embed]
pricing:
  models:
    loop/gpt-test: { input: 2, output: 8 }
    loop/grader: { input: 1, output: 1 }
    loop/json: { input: 2, output: 8 }
    loop/tools: { input: 2, output: 8 }
    loop/embed: { input: 0.1, output: 0 }
    loop/pricey: { input: 1000, output: 1000 }
virtualModels:
  careful:
    kind: cascade
    models: [loop/gpt-test, loop/json]
    check: { type: regex, pattern: '^[{]' }
`;

export interface Loop {
  readonly upstream: OpenAIUpstream;
  readonly dir: string;
  readonly config: string;
  readonly env: Record<string, string>;
  /** Opens the gateway on the data directory (close it before reading the records). */
  open(apiKey?: string): Promise<LocalGateway>;
  /** The usage records in the data directory. */
  rows(): { request_id: string; model: string; key_id: string | null; cost_usd: number | null; endpoint: string; status: number }[];
  dispose(): Promise<void>;
}

export async function startLoop(): Promise<Loop> {
  const upstream = await startOpenAIUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'baimo-eval-'));
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, CONFIG);
  const env = { LOOP_URL: upstream.baseURL, OLLAMA_BASE_URL: '' };
  return {
    upstream,
    dir,
    config,
    env,
    open: () => openLocalGateway({ config, dataDir: join(dir, 'data'), env }),
    rows() {
      const db = new Database(join(dir, 'data', 'baimo.db'), { readonly: true });
      try {
        return db.prepare('SELECT request_id, model, key_id, cost_usd, endpoint, status FROM usage WHERE final = 1 ORDER BY request_id').all() as ReturnType<Loop['rows']>;
      } finally {
        db.close();
      }
    },
    async dispose() {
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
