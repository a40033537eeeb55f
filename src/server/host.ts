/**
 * What a process hosting the gateway stands on, set up the same way by `baimo serve`
 * (server/start.ts) and by the CLI (cli/local.ts): a storage backend (server/backend.ts; opened
 * by the caller, which words a refusal for its own user), the records a killed hub or CLI
 * journaled but never stored replayed into it first, a recorder that journals every record
 * before handing batches to the backend's sink, and the keys and teams, kept fresh by the
 * backend's feed where other hubs share the store. One place, so the two cannot drift on the
 * journal protocol. The journal is always local, in the data directory: each replica of a
 * shared hub keeps its own, so the hot path never waits on the database.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tenancy } from '../tenancy/service.js';
import { UsageJournal } from '../usage/journal.js';
import { UsageRecorder } from '../usage/record.js';
import type { Backend } from './backend.js';

export interface HostOptions<B extends Backend> {
  /** Where the usage journal lives (the data directory, whose lock the backend or the caller holds). */
  readonly dataDir: string;
  /** Opens the backend (throws when another process holds the data directory, or the database refuses). */
  readonly open: () => B | Promise<B>;
  /** BAIMO_ADMIN_KEY, when set. */
  readonly adminKey: string | undefined;
  readonly authRequired: boolean;
  /** Whether an admin key is made when none is set and none is stored (the hub: yes; the CLI: no). */
  readonly generateAdminKey: boolean;
}

export interface Host<B extends Backend> {
  readonly backend: B;
  readonly recorder: UsageRecorder;
  readonly tenancy: Tenancy;
  /** The admin key, only on the start that generated it. */
  readonly generatedAdminKey: string | undefined;
  /** Drains the recorder into the store, stops listening for changes, closes the backend. */
  close(): Promise<void>;
  /** Undoes the opening when start-up fails later on: nothing was recorded; the lock is released. */
  discard(): Promise<void>;
}

export async function openHost<B extends Backend>(o: HostOptions<B>): Promise<Host<B>> {
  const backend = await o.open();
  let journal: UsageJournal | undefined;
  let tenancy: Tenancy | undefined;
  const discard = async () => {
    tenancy?.close();
    journal?.close();
    await backend.close();
  };
  try {
    const journalPath = join(o.dataDir, 'usage.journal');
    const leftover = UsageJournal.read(journalPath);
    // Writes are idempotent by (request, attempt): a record the store already had is not doubled.
    if (leftover.records.length) await backend.stores.usage.writeUsage(leftover.records);
    for (const f of leftover.files) rmSync(f, { force: true });
    journal = new UsageJournal(journalPath);
    const recorder = new UsageRecorder(backend.sink, journal);
    const opened = await Tenancy.open(backend.stores.tenancy, o.adminKey, o.authRequired, {
      generate: o.generateAdminKey,
      ...(backend.feed && { feed: backend.feed }),
    });
    tenancy = opened.tenancy;
    const t = tenancy;
    let closing: Promise<void> | undefined;
    return {
      backend,
      recorder,
      tenancy: t,
      generatedAdminKey: opened.generatedAdminKey,
      discard,
      close: () =>
        (closing ??= (async () => {
          try {
            await recorder.close();
          } finally {
            t.close();
            await backend.close();
          }
        })()),
    };
  } catch (err) {
    await discard();
    throw err;
  }
}
