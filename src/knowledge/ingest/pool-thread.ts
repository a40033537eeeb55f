/**
 * The ingest pool's thread (pool.ts starts it): prepares one file per message and answers with
 * the chunks, or with the failure's code and one-line reason.
 */
import { parentPort } from 'node:worker_threads';
import { ExtractError } from './doc.js';
import { prepareFile } from './prepare.js';
import type { ChunkOptions } from './chunk.js';

export interface PoolRequest {
  readonly bytes: Uint8Array;
  readonly filename: string;
  readonly opts: ChunkOptions;
}

const port = parentPort!;
port.on('message', (m: PoolRequest) => {
  prepareFile(m.bytes, m.filename, m.opts).then(
    (result) => port.postMessage({ ok: true, result }),
    (e: unknown) =>
      port.postMessage(
        e instanceof ExtractError
          ? { ok: false, code: e.code, message: e.message }
          : { ok: false, message: String((e as Error)?.message ?? e).split('\n')[0] },
      ),
  );
});
