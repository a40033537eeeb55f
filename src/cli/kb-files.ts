/**
 * The local files `baimo kb add` was given: files as named, directories walked recursively
 * (dotfiles and dot-directories skipped: `.git`, `.DS_Store` are nobody's knowledge). A path that
 * cannot be read is kept with the OS's reason, so it is counted failed and the rest go on.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type LocalFile = { readonly path: string; readonly bytes: number } | { readonly path: string; readonly error: string };

export interface Expanded {
  readonly files: LocalFile[];
  /** Each directory given and how many files were found under it. */
  readonly dirs: { readonly path: string; readonly count: number }[];
}

/** An OS error as a person reads it, without the path (the caller names the file). */
export function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  // "ENOENT: no such file or directory, stat 'x'" → "ENOENT: no such file or directory"
  return e.code ? `${e.code}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}` : String(e.message ?? err);
}

function walk(dir: string, seen: Set<string>, out: LocalFile[]): void {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    out.push({ path: dir, error: osReason(err) });
    return;
  }
  // A symlink back up the tree would otherwise be walked forever.
  if (seen.has(real)) return;
  seen.add(real);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    out.push({ path: dir, error: osReason(err) });
    return;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isDirectory()) walk(path, seen, out);
      else if (st.isFile()) out.push({ path, bytes: st.size });
      // Sockets, FIFOs, devices: not documents.
    } catch (err) {
      out.push({ path, error: osReason(err) });
    }
  }
}

export function expandPaths(paths: readonly string[]): Expanded {
  const files: LocalFile[] = [];
  const dirs: { path: string; count: number }[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    try {
      const st = statSync(path);
      if (st.isDirectory()) {
        const found: LocalFile[] = [];
        walk(path, seen, found);
        dirs.push({ path, count: found.length });
        files.push(...found);
      } else if (st.isFile()) files.push({ path, bytes: st.size });
      else files.push({ path, error: 'not a regular file or directory' });
    } catch (err) {
      files.push({ path, error: osReason(err) });
    }
  }
  return { files, dirs };
}
