/** The thread a large API suite is parsed on (api-suite.ts): YAML parsing and checking never hold the event loop. */
import { parentPort } from 'node:worker_threads';
import { apiSuite } from './api-suite.js';

parentPort!.once('message', (m: { input: unknown; name: string }) => {
  try {
    parentPort!.postMessage({ ok: true, ...apiSuite(m.input, m.name) });
  } catch (err) {
    parentPort!.postMessage({ ok: false, suiteError: (err as Error).name === 'SuiteError', message: (err as Error).message });
  }
});
