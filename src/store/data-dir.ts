import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** A data directory the hub may not use: another hub holds it, or a newer Baimo wrote it. */
export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/** Files in the data directory may hold prompts and answers: only the hub's user may read them. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Creates the data directory readable by its owner only. An existing directory is tightened
 * too when it is already a Baimo data directory (it holds baimo.db); any other existing
 * directory (the working directory, say) keeps its mode, but the files the hub makes in it are
 * still 0600.
 */
export function prepareDataDir(dir: string): void {
  const existed = existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode is filtered by the umask: set it exactly.
  if (!existed || existsSync(join(dir, 'baimo.db'))) chmodSync(dir, DIR_MODE);
}

/** Creates `path` (if absent) as an empty file readable by its owner only, and tightens it if present. */
export function privateFile(path: string): void {
  closeSync(openSync(path, 'a', FILE_MODE));
  chmodSync(path, FILE_MODE);
}

/** Lock files this process holds: a lock naming this very pid is then told apart from a stale one left by an earlier process that had the same pid (a container's pid 1). */
const held = new Map<string, () => void>();
let exitHook = false;

/** Whether `pid` may still be a hub: it exists and, where Linux tells, runs Node or Baimo. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  try {
    // After a restart (a container's, say) the old hub's pid may belong to something else now.
    return /node|baimo/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc: the pid exists, assume it is a hub
  }
}

/**
 * Removes a stale lock whose content was `stale`. Two hubs may find the same stale lock at
 * once: the lock is moved aside atomically and checked, and one that a faster hub had already
 * replaced with its own is put back, so the slower hub then finds it held.
 */
function takeOver(path: string, stale: string): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    if (readFileSync(aside, 'utf8') !== stale) linkSync(aside, path);
  } catch {
    // EEXIST: yet another hub holds it now; the next look finds that
  } finally {
    rmSync(aside, { force: true });
  }
}

/**
 * One data directory, one hub: takes `baimo.lock` in `dir` (created atomically, holding this
 * process's pid) or throws a DataDirError naming the hub that holds it. A lock left by a process
 * that no longer exists is taken over. Returns the function that releases it.
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, 'baimo.lock');
  const where = resolve(dir);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw e;
      }
      const pid = Number(text.trim().split(/\s+/)[0]);
      if (Number.isInteger(pid) && pid > 0) {
        const stale = pid === process.pid ? !held.has(path) : !alive(pid);
        if (!stale) {
          throw new DataDirError(
            `Another Baimo hub (pid ${pid}) is using the data directory ${where}. ` +
              'Two hubs on one directory would corrupt each other\'s keys, budgets and usage records: stop that hub first, or give this one its own directory with --data-dir or BAIMO_DATA_DIR.',
          );
        }
      } else {
        // A hub writes its pid the moment it creates the file: an empty one is either being
        // written right now or was left by a crash in between.
        let age = Infinity;
        try {
          age = Date.now() - statSync(path).mtimeMs;
        } catch {
          continue;
        }
        if (age < 5_000) {
          throw new DataDirError(`Another Baimo hub is starting on the data directory ${where} (${path} holds no pid yet). Stop it first, or use another --data-dir.`);
        }
      }
      takeOver(path, text);
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    chmodSync(path, FILE_MODE);
    if (!exitHook) {
      exitHook = true;
      // A hub that exits without closing (an uncaught error, process.exit) leaves no lock behind.
      process.once('exit', () => {
        for (const release of [...held.values()]) release();
      });
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.delete(path);
      try {
        // Only our own lock: never one another hub has taken over since.
        if (Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]) === process.pid) rmSync(path, { force: true });
      } catch {
        // already gone
      }
    };
    held.set(path, release);
    return release;
  }
  throw new DataDirError(`Could not take the lock ${path}: other hubs keep starting on ${where}.`);
}
