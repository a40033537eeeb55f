/**
 * `baimo migrate`: brings a PostgreSQL database's schema up to date (the migrations a hub applies
 * when it starts, under the same advisory lock, so it is safe beside running replicas), and with
 * `--from sqlite DATA_DIR` copies an embedded hub's data into it. Every failure is one line that
 * names the database without its password.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DataDirError } from '../store/data-dir.js';
import { copyFromSQLite } from '../store/postgres/copy-from-sqlite.js';
import type { TableCopy } from '../store/postgres/copy-from-sqlite.js';
import { openPostgresStores } from '../store/postgres/index.js';
import type { PostgresStores } from '../store/postgres/index.js';
import { displayUrl, maskPassword, SCHEMA_VERSION } from '../store/postgres/schema.js';
import { DatabaseUnreachableError, upgradeSchema } from '../store/postgres/upgrade.js';
import { openSQLiteStores } from '../store/sqlite/index.js';
import type { SQLiteStores } from '../store/sqlite/index.js';
import { UsageJournal } from '../usage/journal.js';

export const MIGRATE_HELP = `Usage:
  baimo migrate [--database-url URL]
      Applies this Baimo's PostgreSQL schema migrations (hubs apply them on start too).
  baimo migrate --from sqlite DATA_DIR [--database-url URL]
      Copies an embedded hub's data directory into PostgreSQL: settings, teams, keys, usage
      records (hourly totals rebuilt), captured bodies and traces, stored responses, eval runs with
      their results, human judgements (the arena's votes), uploaded files, vector stores with
      their files, batches and chunk index (vectors need the
      pgvector extension; without it the keyword index is copied and the summary says which
      stores lack their vectors: install pgvector and run again).
      Stop the hub first. Safe to run again: nothing is copied twice.

  URL defaults to BAIMO_DATABASE_URL.
`;

export interface MigrateIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
}

/** A failure to report as one line (no stack): what went wrong and what to do. */
class MigrateError extends Error {}

function checkUrl(url: string | undefined): string {
  if (!url) throw new MigrateError('no database: pass --database-url postgres://… or set BAIMO_DATABASE_URL.');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MigrateError('the database URL is not a URL: expected postgres://user:password@host:5432/database.');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    // Only the scheme is quoted: the rest of a mistyped URL may be a secret.
    throw new MigrateError(`the database URL is a ${u.protocol} one, not PostgreSQL: expected postgres://user:password@host:5432/database.`);
  }
  return url;
}

function openSource(dir: string): SQLiteStores {
  if (!existsSync(join(dir, 'baimo.db'))) throw new MigrateError(`${dir} is not a Baimo data directory: it holds no baimo.db.`);
  try {
    return openSQLiteStores(dir);
  } catch (err) {
    // Only the lock's refusal is about a running hub; a newer embedded schema speaks for itself.
    if (!(err instanceof DataDirError) || !/^Another Baimo hub/.test(err.message)) throw err;
    throw new DataDirError(`\`baimo migrate --from sqlite\` reads the hub's data directory, and a running hub holds it. ${err.message} Stop it, then migrate (it is safe to repeat).`);
  }
}

/** Progress on stderr: a line per table, and for usage a line rewritten in place (a terminal) or one per tenth. */
function progressTo(stderr: MigrateIO['stderr']) {
  let lastTenth = -1;
  let open = false;
  const end = () => {
    if (open) stderr.write('\n');
    open = false;
  };
  return {
    end,
    report(e: { table: string; done: number; total: number }) {
      if (e.table !== 'usage' && e.done > 0) return; // a line per table: pages of the others pass quietly
      if (e.done === 0) {
        end();
        stderr.write(`copying ${e.table} (${e.total})…\n`);
        lastTenth = -1;
        return;
      }
      const pct = e.total ? Math.floor((100 * e.done) / e.total) : 100;
      if (stderr.isTTY) {
        stderr.write(`\r  usage ${e.done}/${e.total} (${pct}%)`);
        open = true;
      } else if (Math.floor(pct / 10) > lastTenth) {
        lastTenth = Math.floor(pct / 10);
        stderr.write(`  usage ${e.done}/${e.total} (${pct}%)\n`);
      }
    },
  };
}

function summary(from: string, to: string, copied: readonly TableCopy[], journaled: number): string {
  const width = Math.max(...copied.map((c) => c.table.length));
  const lines = copied.map((c) => `  ${c.table.padEnd(width)}  ${String(c.read).padStart(8)} read  ${String(c.added).padStart(8)} new\n`);
  const added = copied.reduce((n, c) => n + c.added, 0);
  const notes = copied.flatMap((c) => (c.note ? [`Not copied: ${c.note}\n`] : []));
  return (
    `Copied ${from} into ${to}:\n${lines.join('')}` +
    notes.join('') +
    (journaled ? `  (usage includes ${journaled} journaled record(s) the embedded store had not written yet)\n` : '') +
    (added === 0 ? 'Nothing was new: the database already held all of it.\n' : '')
  );
}

async function run(args: string[], io: MigrateIO): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { from: { type: 'string' }, 'database-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout.write(MIGRATE_HELP);
    return;
  }
  if (values.from !== undefined && values.from !== 'sqlite') throw new MigrateError(`--from ${values.from}: the only source is sqlite (an embedded hub's data directory).`);
  if (values.from === undefined && positionals.length) throw new MigrateError(`unexpected '${positionals[0]}': a data directory goes with --from sqlite.`);
  if (values.from !== undefined && positionals.length !== 1) throw new MigrateError('--from sqlite takes one DATA_DIR: the embedded hub\'s data directory.');
  const url = checkUrl(values['database-url'] ?? io.env.BAIMO_DATABASE_URL);
  const shown = displayUrl(url);

  // The data directory is checked and locked first: a running hub refuses before the database is touched.
  const dataDir = values.from ? resolve(positionals[0]!) : undefined;
  const source = dataDir ? openSource(dataDir) : undefined;
  let dst: PostgresStores | undefined;
  try {
    let v: Awaited<ReturnType<typeof upgradeSchema>>;
    try {
      v = await upgradeSchema(url);
    } catch (err) {
      if (!(err instanceof DatabaseUnreachableError)) throw err;
      throw new MigrateError(`cannot reach PostgreSQL at ${shown}: ${maskPassword(err.message, url)}`);
    }
    io.stdout.write(
      v.applied
        ? `${shown}: schema version ${v.before} → ${v.after} (${v.applied} migration${v.applied === 1 ? '' : 's'} applied).\n`
        : `${shown}: schema version ${v.after}, up to date (this Baimo's is ${SCHEMA_VERSION}).\n`,
    );
    if (!source || !dataDir) return;
    // Records a killed hub journaled but never stored: a hub's next start would replay them; so does the copy (the file is left as it is).
    const journal = UsageJournal.read(join(dataDir, 'usage.journal'));
    dst = await openPostgresStores(url, { poolSize: 2 });
    const progress = progressTo(io.stderr);
    let copied: TableCopy[];
    try {
      copied = await copyFromSQLite(source, dst, { journaled: journal.records, progress: progress.report });
    } catch (err) {
      progress.end();
      throw new MigrateError(`the copy stopped: ${maskPassword((err as Error).message, url)}. What was copied stays; run it again to copy the rest (nothing is doubled).`);
    }
    progress.end();
    io.stdout.write(summary(dataDir, shown, copied, journal.records.length));
  } finally {
    source?.close();
    await dst?.close();
  }
}

/** Runs `baimo migrate` with `args`; returns the exit status (errors are written to stderr, one line). */
export async function migrateCommand(args: string[], io: MigrateIO = { env: process.env, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    await run(args, io);
    return 0;
  } catch (err) {
    // One line, whatever the driver said, and no password from either place a URL may come from.
    const mask = (text: string) => [argUrl(args), io.env.BAIMO_DATABASE_URL].reduce<string>((t, u) => (u ? maskPassword(t, u) : t), text).replace(/\s*\n\s*/g, ' ');
    if (err instanceof MigrateError || err instanceof DataDirError) io.stderr.write(`error: ${mask(err.message)}\n`);
    else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) io.stderr.write(`error: ${(err as Error).message}\n\n${MIGRATE_HELP}`);
    else io.stderr.write(`error: ${mask((err as Error)?.message ?? String(err))}\n`);
    return 1;
  }
}

/** The --database-url argument, for masking its password in any message. */
function argUrl(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--database-url') return args[i + 1];
    if (a.startsWith('--database-url=')) return a.slice('--database-url='.length);
  }
  return undefined;
}
