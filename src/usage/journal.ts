import { closeSync, existsSync, fchmodSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { UsageRecord } from './record.js';

/** A sealed segment of the journal: its file, and how to delete it once the store has its records. */
export interface SealedSegment {
  readonly path: string;
  drop(): void;
}

/**
 * An append-only file of usage records not yet in the database. Each record is appended (one
 * write to the page cache, a few microseconds) when it is made, so that even a hub killed with
 * SIGKILL loses no accounting: on the next start the journal is replayed into the store, where
 * duplicates are ignored.
 *
 * The store is written by another thread, so the journal is kept in segments: each batch handed
 * to the writer seals the current segment, and a sealed segment is deleted once the writer has
 * committed its batch. While the store is unreachable, sealed segments pile up on disk; the
 * recorder reads them back (asynchronously, off the request path) once it can write again.
 */
export class UsageJournal {
  private fd: number;
  private sealed = 0;

  /**
   * Records hold key ids, models and costs: the file is its owner's only. A new file is made
   * 0600 (a umask can only take bits away); one an older hub left is tightened.
   */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a', 0o600);
    fchmodSync(this.fd, 0o600);
  }

  private buffered = '';
  private waiting: (() => void)[] = [];

  /** Appends one record, already serialized as a JSON line (without its newline). */
  append(line: string): void {
    writeSync(this.fd, `${line}\n`);
  }

  /**
   * Appends a record and calls `then` once it is in the file. Records made in the same turn of
   * the event loop share one write, so a busy hub pays one syscall for many responses.
   */
  appendThen(line: string, then: () => void): void {
    if (this.waiting.length === 0) setImmediate(() => this.drain());
    this.buffered += `${line}\n`;
    this.waiting.push(then);
  }

  private drain(): void {
    const waiting = this.waiting;
    this.waiting = [];
    if (this.buffered) writeSync(this.fd, this.buffered);
    this.buffered = '';
    for (const w of waiting) w();
  }

  /** Seals what was appended so far into its own segment, to be read back or dropped later. */
  seal(): SealedSegment {
    // Whatever is waiting for the next write belongs to the segment being sealed.
    if (this.waiting.length) this.drain();
    closeSync(this.fd);
    const segment = `${this.path}.${process.pid}.${Date.now()}.${++this.sealed}`;
    renameSync(this.path, segment);
    this.fd = openSync(this.path, 'a', 0o600);
    return { path: segment, drop: () => rmSync(segment, { force: true }) };
  }

  close(): void {
    if (this.waiting.length) this.drain();
    closeSync(this.fd);
  }

  /**
   * The JSON lines of one sealed segment, read asynchronously: the recorder reads a segment back
   * while requests are being served. A torn last line is left out (lines are appended
   * whole, so only the last can be one), so that it cannot fail its whole batch for ever; a segment already gone
   * reads as empty.
   */
  static async readSegment(path: string): Promise<string[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return [];
      throw err;
    }
    const lines = text.split('\n').filter((line) => line.length > 0);
    // Lines are appended whole: only the last can be torn. The rest are parsed once, by the store.
    const last = lines.at(-1);
    if (last !== undefined) {
      try {
        JSON.parse(last);
      } catch {
        lines.pop();
      }
    }
    return lines;
  }

  /** Records left by earlier runs (the journal and any sealed segments); a torn last line is skipped. */
  static read(path: string): { records: UsageRecord[]; files: string[] } {
    const dir = dirname(path);
    const name = basename(path);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f === name || f.startsWith(`${name}.`)).map((f) => join(dir, f)) : [];
    const records: UsageRecord[] = [];
    for (const f of files) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          records.push(JSON.parse(line) as UsageRecord);
        } catch {
          // only a last line can be torn
        }
      }
    }
    return { records, files };
  }
}
