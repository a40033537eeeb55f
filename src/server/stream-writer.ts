import type { ServerResponse } from 'node:http';

/**
 * Writes to a response, waiting when the client reads slower than the upstream writes so a slow
 * client cannot make the hub buffer a whole stream. Resolves early if the client goes away.
 */
export function write(res: ServerResponse, text: string): Promise<void> | undefined {
  if (res.write(text)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
