/**
 * The resume file of `baimo eval run` and `baimo eval trust`: JSON Lines written as the run goes,
 * so a run that is cancelled, stopped at its ceiling, or killed outright (a crash, `kill -9`, a
 * closed laptop) can be taken up with `--resume FILE` where it stopped.
 *
 * - line 1, the header: what the run is (`kind`, a hash of its planned work) and its run id;
 * - `{"cell": …}` (with `"part"` for a trust perspective) for each cell as it finishes;
 * - `{"seq": n}` for each request id `<run id>.<n>` the moment it is taken, before the call goes
 *   out: a resumed run numbers its calls after the highest one, so a call that was in flight when
 *   the process died (and may be in the request log) never shares its id with a new one.
 *
 * Lines are appended with one `write` each, synchronously; a process killed mid-line leaves a
 * torn last line, which reading ignores. The file is removed once the run completes.
 * A file from before this format (one JSON object, `baimo eval run` only) is still read.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import type { CellResult } from '../eval/run.js';
import type { EvalCaller } from '../eval/types.js';

export type ResumeKind = 'run' | 'trust';

export interface ResumeState {
  readonly kind: ResumeKind;
  readonly hash: string;
  readonly runId: string;
  /** The highest request-id number taken (0: none). */
  readonly lastSeq: number;
  /** Finished cells by part (`''` for `eval run`, the perspective for `eval trust`); the last copy of a key wins. */
  readonly cells: ReadonlyMap<string, readonly CellResult[]>;
  /** Read from the one-object format: the run goes on in a new file of this format. */
  readonly legacy: boolean;
}

/** Why a resume file cannot be used: the CLI reports it as a usage error. */
export class ResumeError extends Error {}

/** A wrong flag or argument of `baimo eval`: exit 2 with the help. */
export class UsageError extends Error {}

const MAGIC = 'baimo-eval-resume';

const isCell = (c: unknown): c is CellResult => {
  const x = c as Partial<CellResult> | null;
  return typeof x === 'object' && x !== null && typeof x.key === 'string' && typeof x.success === 'boolean' && typeof x.score === 'number' && typeof x.spentUsd === 'number' && Number.isInteger(x.testIdx) && Number.isInteger(x.providerIdx);
};

/** Reads a resume file and checks it is one of this kind of run with this planned work. */
export function readResume(file: string, kind: ResumeKind, hash: string): ResumeState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ResumeError(`--resume: cannot read ${file}`);
  }
  const other = kind === 'run' ? 'the file is from another suite (or another --repeat)' : 'the file is from another trust run (other models, perspectives, --limit or --grader)';
  // The format before JSON Lines: one object with every finished cell, written when the run stopped.
  if (kind === 'run' && text.trimStart().startsWith('{"suiteHash"')) {
    let legacy: { suiteHash?: unknown; runId?: unknown; lastSeq?: unknown; results?: unknown };
    try {
      legacy = JSON.parse(text) as typeof legacy;
    } catch {
      throw new ResumeError(`--resume: ${file} is not a resume file`);
    }
    if (legacy.suiteHash !== hash) throw new ResumeError(`--resume: ${other}`);
    if (typeof legacy.runId !== 'string' || !Array.isArray(legacy.results) || !legacy.results.every(isCell)) throw new ResumeError(`--resume: ${file} is not a resume file`);
    return { kind, hash, runId: legacy.runId, lastSeq: Number.isInteger(legacy.lastSeq) ? (legacy.lastSeq as number) : 0, cells: new Map([['', legacy.results as CellResult[]]]), legacy: true };
  }
  const lines = text.split('\n');
  let head: { magic?: unknown; kind?: unknown; hash?: unknown; runId?: unknown };
  try {
    head = JSON.parse(lines[0] ?? '') as typeof head;
  } catch {
    throw new ResumeError(`--resume: ${file} is not a resume file`);
  }
  if (head?.magic !== MAGIC || typeof head.runId !== 'string' || !/^[\w.-]{1,128}$/.test(head.runId)) throw new ResumeError(`--resume: ${file} is not a resume file`);
  if (head.kind !== kind) throw new ResumeError(`--resume: the file is from baimo eval ${String(head.kind)}, not baimo eval ${kind}`);
  if (head.hash !== hash) throw new ResumeError(`--resume: ${other}`);
  let lastSeq = 0;
  const byPart = new Map<string, Map<string, CellResult>>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    let entry: { seq?: unknown; cell?: unknown; part?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      // A torn last line is what a process killed mid-write leaves; a torn line elsewhere is damage.
      if (i === lines.length - 1) break;
      throw new ResumeError(`--resume: ${file} line ${i + 1} is not JSON`);
    }
    if (Number.isSafeInteger(entry?.seq)) lastSeq = Math.max(lastSeq, entry.seq as number);
    else if (isCell(entry?.cell)) {
      const part = typeof entry.part === 'string' ? entry.part : '';
      let m = byPart.get(part);
      if (!m) byPart.set(part, (m = new Map()));
      m.set(entry.cell.key, entry.cell);
    } else throw new ResumeError(`--resume: ${file} line ${i + 1} is neither a cell nor a request number`);
  }
  return { kind, hash, runId: head.runId, lastSeq, cells: new Map([...byPart].map(([p, m]) => [p, [...m.values()]])), legacy: false };
}

/** Appends to a resume file as the run goes. */
export class ResumeLog {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    flags: 'w' | 'a',
  ) {
    this.fd = openSync(file, flags, 0o600);
  }

  /** A new file with its header; `copy`: the cells and last request number of a run being resumed from an old-format file. */
  static create(file: string, head: { kind: ResumeKind; hash: string; runId: string }, copy?: ResumeState): ResumeLog {
    const log = new ResumeLog(file, 'w');
    log.line({ magic: MAGIC, v: 1, kind: head.kind, hash: head.hash, runId: head.runId });
    if (copy) {
      if (copy.lastSeq) log.seq(copy.lastSeq);
      for (const [part, cells] of copy.cells) for (const cell of cells) log.cell(cell, part || undefined);
    }
    return log;
  }

  /** Goes on with the file a run is resumed from. */
  static append(file: string): ResumeLog {
    return new ResumeLog(file, 'a');
  }

  private line(value: unknown): void {
    if (this.fd === undefined) return;
    // One write per line: a kill can tear only the line being written, the last one.
    writeSync(this.fd, `${JSON.stringify(value)}\n`);
  }

  cell(cell: CellResult, part?: string): void {
    this.line(part === undefined ? { cell } : { part, cell });
  }

  seq(n: number): void {
    this.line({ seq: n });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The run completed: nothing is left to resume. */
  remove(): void {
    this.close();
    rmSync(this.file, { force: true });
  }
}

/**
 * The caller with each request number logged as it is taken. The in-process caller takes the
 * number synchronously when `complete`/`embed` is called, before any network work, so reading
 * `lastSeq()` right after the call starts gives that call's number.
 */
export function loggingSeqs(caller: EvalCaller, lastSeq: () => number, log: ResumeLog): EvalCaller {
  let logged = lastSeq();
  const note = () => {
    const n = lastSeq();
    if (n > logged) log.seq((logged = n));
  };
  return {
    complete(model, request, signal) {
      const p = caller.complete(model, request, signal);
      note();
      return p;
    },
    embed(model, inputs, signal) {
      const p = caller.embed(model, inputs, signal);
      note();
      return p;
    },
    worstCaseUsd: (model, request) => caller.worstCaseUsd(model, request),
  };
}
