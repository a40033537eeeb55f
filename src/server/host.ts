/**
 * What a process hosting the gateway stands on, set up the same way by `baimo serve`
 * (server/start.ts) and by the CLI (cli/local.ts): the data directory's stores (opened by the
 * caller, which takes the directory's lock and words a refusal for its own user), the records a
 * killed hub or CLI journaled but never stored replayed into them first, a recorder that journals
 * every record before handing batches to its sink, the keys and teams, and the budget ledger over
 * the stores' spend. One place, so the two cannot drift on the journal protocol or on how an
 * account's spend is read. It sees the stores through their ports only.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../tenancy/ledger.js';
import type { SpendReader, TenancyStore } from '../tenancy/ports.js';
import { Tenancy } from '../tenancy/service.js';
import { UsageJournal } from '../usage/journal.js';
import type { UsageStore } from '../usage/ports.js';
import { UsageRecorder } from '../usage/record.js';
import type { UsageSink } from '../usage/record.js';

/** What the host needs of the stores. */
export interface HostStores {
  readonly usage: Pick<UsageStore, 'writeUsage'>;
  readonly tenancy: TenancyStore & SpendReader;
  close(): void;
}

/** A usage sink that may hold a resource of its own (the hub's writer thread). */
export type HostSink = UsageSink & { close?(): Promise<void> };

export interface HostOptions<S extends HostStores> {
  /** Where the usage journal lives. */
  readonly dataDir: string;
  /** Opens the stores, taking the data directory's lock (throws when another process holds it). */
  readonly open: () => S;
  /** Where the recorder's batches go, given the opened stores. */
  readonly sink: (stores: S) => HostSink;
  /** BAIMO_ADMIN_KEY, when set. */
  readonly adminKey: string | undefined;
  readonly authRequired: boolean;
  /** Whether an admin key is made when none is set and none is stored (the hub: yes; the CLI: no). */
  readonly generateAdminKey: boolean;
}

export interface Host<S extends HostStores> {
  readonly stores: S;
  readonly sink: HostSink;
  readonly recorder: UsageRecorder;
  readonly tenancy: Tenancy;
  /** The admin key, only on the start that generated it. */
  readonly generatedAdminKey: string | undefined;
  readonly ledger: Ledger;
  /** Undoes the opening when start-up fails later on: nothing was recorded; the lock is released. */
  discard(): Promise<void>;
}

export async function openHost<S extends HostStores>(o: HostOptions<S>): Promise<Host<S>> {
  const stores = o.open();
  let sink: HostSink | undefined;
  let journal: UsageJournal | undefined;
  const discard = async () => {
    await sink?.close?.();
    journal?.close();
    stores.close();
  };
  try {
    const journalPath = join(o.dataDir, 'usage.journal');
    const leftover = UsageJournal.read(journalPath);
    if (leftover.records.length) await stores.usage.writeUsage(leftover.records);
    for (const f of leftover.files) rmSync(f, { force: true });
    journal = new UsageJournal(journalPath);
    sink = o.sink(stores);
    const recorder = new UsageRecorder(sink, journal);
    const { tenancy, generatedAdminKey } = await Tenancy.open(stores.tenancy, o.adminKey, o.authRequired, { generate: o.generateAdminKey });
    const ledger = new Ledger((account, _period, since) => {
      const [kind, id] = account.split(':') as ['key' | 'team', string];
      return stores.tenancy.spendOf(kind, id, since);
    });
    return { stores, sink, recorder, tenancy, generatedAdminKey, ledger, discard };
  } catch (err) {
    await discard();
    throw err;
  }
}
