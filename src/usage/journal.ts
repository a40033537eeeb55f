import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { UsageRecord } from './record.js';

/**
 * An append-only file of usage records not yet in the database. Each record is appended (one
 * write to the page cache, a few microseconds) when it is made, so that even a hub killed with
 * SIGKILL loses no accounting: on the next start the journal is replayed into the store, where
 * duplicates are ignored. It is emptied after every committed batch.
 */
export class UsageJournal {
  private fd: number;

  constructor(readonly path: string) {
    // Append mode: after a truncate, writes go to the new end rather than leaving a hole.
    this.fd = openSync(path, 'a');
  }

  append(r: UsageRecord): void {
    writeSync(this.fd, `${JSON.stringify(r)}\n`);
  }

  clear(): void {
    ftruncateSync(this.fd, 0);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Records left by a previous run; a torn last line (killed mid-write) is skipped. */
  static read(path: string): UsageRecord[] {
    if (!existsSync(path)) return [];
    const out: UsageRecord[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as UsageRecord);
      } catch {
        // only the last line can be torn
      }
    }
    return out;
  }
}
