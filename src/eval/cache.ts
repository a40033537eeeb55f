/**
 * Answers kept on disk by what produced them, so a suite run again calls no model it already
 * asked the same thing: the key is a SHA-256 of (kind, model, rendered messages, request
 * options, repeat index) — the repeat index keeps `--repeat N` from answering N times from one
 * call. One JSON file per answer under `<data dir>/eval-cache/`, written to a temporary name and
 * renamed, so a killed run leaves no half-written entry. Only answers that succeeded are kept.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class AnswerCache {
  constructor(private readonly dir: string) {}

  static key(parts: unknown): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  }

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  get<T>(key: string): T | undefined {
    try {
      return JSON.parse(readFileSync(this.path(key), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: unknown): void {
    const file = this.path(key);
    try {
      mkdirSync(join(this.dir, key.slice(0, 2)), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // A cache that cannot be written costs a call next time, not this run.
    }
  }
}
