import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { startHub } from '../../src/server/start.js';
import type { RunningHub } from '../../src/server/start.js';

export interface TestHub extends RunningHub {
  readonly dir: string;
  /** Stops the hub and removes its data directory. */
  dispose(): Promise<void>;
}

/**
 * A hub on a random loopback port with its own data directory, configured by a real baimo.yaml
 * and an explicit environment, so nothing from the developer's shell leaks in.
 */
export async function startTestHub(yaml: string, env: Record<string, string> = {}, logDestination?: DestinationStream): Promise<TestHub> {
  // Most tests are about models, not keys: run open and quiet unless a test asks otherwise.
  env = { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: logDestination ? 'debug' : 'silent', ...env };
  const dir = mkdtempSync(join(tmpdir(), 'baimo-test-'));
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, yaml);
  const hub = await startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env, detectOllama: false, ...(logDestination && { logDestination }) });
  let disposed = false;
  return {
    ...hub,
    dir,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
