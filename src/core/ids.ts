import { randomBytes } from 'node:crypto';

/**
 * Request ids that sort by time: 12 hex digits of the epoch millisecond, then 10 random hex
 * digits drawn once per process, then a 10-digit counter. Unique across processes and restarts
 * (the random part) and cheap to make (no entropy per request). Because they grow with time, the
 * store's request-id indexes are appended to at their right edge instead of being written all
 * over: a batch of records then dirties a handful of pages rather than one per record.
 */
const processPart = randomBytes(5).toString('hex');
let counter = Math.floor(Math.random() * 0x1_0000_0000);

let lastMs = 0;
let msHex = '';

export function timeOrderedId(prefix: string): string {
  counter = (counter + 1) % 0x100_0000_0000;
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    msHex = now.toString(16).padStart(12, '0') + processPart;
  }
  return `${prefix}${msHex}${counter.toString(16).padStart(10, '0')}`;
}
