import { randomUUID } from 'node:crypto';
import { HubError } from '../core/errors.js';
import type { TenancyChange, TenancyFeed, TenancyStore } from './ports.js';
import { authorizationProblem, hashKey, newKey, presentedKey } from './secrets.js';
import type { Limits, Principal, Team, VirtualKey } from './types.js';

export interface KeyInput extends Limits {
  readonly name?: string;
  readonly teamId?: string | null;
  readonly expiresAt?: number | null;
  readonly metadata?: Record<string, unknown>;
}

export interface TeamInput extends Limits {
  readonly name?: string;
  readonly metadata?: Record<string, unknown>;
}

const ADMIN_HASH = 'admin_key_hash';

export interface TenancyOptions {
  /** `generate: false` (the CLI): without an admin key, none is made; no key authenticates as admin. */
  readonly generate?: boolean;
  /**
   * Hubs sharing the store: changes made here are published, changes heard from others are read
   * back from the store into the cache, and `authenticateShared` looks up hashes the cache misses.
   */
  readonly feed?: TenancyFeed;
  /** With a feed: how long a hash the store did not know is refused without asking again (default 5 s). */
  readonly missTtlMs?: number;
  /**
   * With a feed: store lookups of missed hashes per second at most (default 200: one indexed read
   * each). Beyond it misses are refused at once; a key just made elsewhere is then known here when
   * its notice arrives, milliseconds later.
   */
  readonly missLookupsPerSecond?: number;
  /**
   * With a feed: everything is reloaded this often (default 60 s; 0: never), a backstop for a
   * change whose publication failed while the write itself succeeded.
   */
  readonly reloadEveryMs?: number;
}

/**
 * Keys and teams, cached in memory so that authenticating a request is one hash and one map
 * lookup; every change is written through to the store and takes effect at once. With a
 * TenancyFeed, several hubs over one store keep each other's caches fresh: each change is
 * published, and a hub hearing of another's reads that entry back and swaps it in.
 */
export class Tenancy {
  private readonly byHash = new Map<string, VirtualKey>();
  private readonly byId = new Map<string, VirtualKey>();
  private readonly teamsById = new Map<string, Team>();
  /** This instance, in the changes it publishes (it skips its own when they come back). */
  private readonly origin = randomUUID();
  /**
   * The step at which each cached entry ('key:<id>', 'team:<id>') was last set or asked for
   * again: a read from the store started before a later one, or before a local write, is
   * dropped when it returns, so replies arriving out of order never bring back an old state.
   */
  private readonly touched = new Map<string, number>();
  private step = 0;
  /** Hashes the store did not know, until when (unix ms); and lookups under way. */
  private readonly misses = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<{ key: VirtualKey; team: Team | undefined } | undefined>>();
  private lookupWindow = { second: 0, count: 0 };
  private unsubscribe: (() => void) | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly repo: TenancyStore,
    private readonly adminHash: string,
    /** When false, requests without a key are let through (keys presented are still honoured). */
    readonly authRequired: boolean,
    private readonly o: TenancyOptions,
  ) {}

  /**
   * The admin key comes from BAIMO_ADMIN_KEY; without it one is generated on first start, its
   * hash stored, and the key itself returned once for the operator to copy.
   */
  static async open(
    repo: TenancyStore,
    adminKeyFromEnv: string | undefined,
    authRequired: boolean,
    o: TenancyOptions = {},
  ): Promise<{ tenancy: Tenancy; generatedAdminKey?: string }> {
    const make = async (adminHash: string) => {
      const t = new Tenancy(repo, adminHash, authRequired, o);
      // Listening before the first load: a change made meanwhile is either in it or heard after.
      if (o.feed) t.unsubscribe = o.feed.subscribe((c) => t.heard(c));
      try {
        await t.reloadAll();
      } catch (err) {
        t.close();
        throw err;
      }
      const every = o.reloadEveryMs ?? 60_000;
      if (o.feed && every > 0) {
        t.reloadTimer = setInterval(() => void t.reloadAll().catch(() => undefined), every);
        t.reloadTimer.unref();
      }
      return t;
    };
    if (adminKeyFromEnv) return { tenancy: await make(hashKey(adminKeyFromEnv)) };
    const stored = await repo.getSetting(ADMIN_HASH);
    if (stored) return { tenancy: await make(stored) };
    if (o.generate === false) return { tenancy: await make('') };
    const k = newKey('sk-baimo-admin');
    // Replicas starting together on an empty database: one key wins, and only its maker shows it.
    const claimed = await repo.claimSetting(ADMIN_HASH, k.hash);
    if (claimed !== k.hash) return { tenancy: await make(claimed) };
    return { tenancy: await make(k.hash), generatedAdminKey: k.key };
  }

  /** Stops listening to the feed; the cache stays as it is. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearInterval(this.reloadTimer);
  }

  private cache(k: VirtualKey): void {
    const old = this.byId.get(k.id);
    if (old) this.byHash.delete(old.hash);
    this.byId.set(k.id, k);
    this.byHash.set(k.hash, k);
  }

  private uncacheKey(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byHash.delete(old.hash);
    this.byId.delete(id);
  }

  private touch(entry: string): number {
    const s = ++this.step;
    this.touched.set(entry, s);
    return s;
  }

  /** A change made here: cached at once (the caller has written it through), then told to the other hubs. */
  private async changed(kind: 'key' | 'team', id: string): Promise<void> {
    if (!this.o.feed) return;
    this.touch(`${kind}:${id}`);
    try {
      await this.o.feed.publish({ kind, id, origin: this.origin });
    } catch (err) {
      // The write is done and this hub has it; the others catch up at their next full reload.
      process.emitWarning(`Could not tell the other hubs that ${kind} ${id} changed (${(err as Error).message}); they reload everything periodically`);
    }
  }

  private heard(c: TenancyChange): void {
    if (c.kind === 'all') {
      void this.reloadAll().catch((err: Error) => process.emitWarning(`Reloading keys and teams failed (${err.message}); retried at the next change or reload`));
      return;
    }
    if (c.origin === this.origin) return;
    void this.reload(c.kind, c.id).catch((err: Error) => process.emitWarning(`Reloading ${c.kind} ${c.id} failed (${err.message}); retried at the next full reload`));
  }

  /** Reads one key or team back from the store and swaps it into the cache (or drops it, once deleted). */
  private async reload(kind: 'key' | 'team', id: string): Promise<void> {
    const entry = `${kind}:${id}`;
    const s = this.touch(entry);
    if (kind === 'key') {
      const k = await this.repo.key(id);
      if (k) await this.ensureTeam(k, s);
      if (this.touched.get(entry) !== s) return;
      if (k) this.cache(k);
      else this.uncacheKey(id);
    } else {
      const t = await this.repo.team(id);
      if (this.touched.get(entry) !== s) return;
      if (t) this.teamsById.set(id, t);
      else this.teamsById.delete(id);
    }
  }

  /**
   * A key's notice may be read before its new team's: the team is loaded first, so that no
   * request is admitted under the key without its team's limits. `s` is the step of the key's
   * read; the team read is cached only if nothing newer touched the team meanwhile, but returned
   * either way, for the request that asked.
   */
  private async ensureTeam(k: VirtualKey, s: number): Promise<Team | undefined> {
    if (!k.teamId) return undefined;
    const cached = this.teamsById.get(k.teamId);
    if (cached) return cached;
    const t = await this.repo.team(k.teamId).catch(() => undefined);
    if (t && (this.touched.get(`team:${t.id}`) ?? 0) <= s && !this.teamsById.has(t.id)) this.teamsById.set(t.id, t);
    return this.teamsById.get(k.teamId) ?? t;
  }

  /** Replaces the whole cache by the store's contents, but for entries changed since the reload began. */
  private async reloadAll(): Promise<void> {
    const s = ++this.step;
    const [teams, keys] = await Promise.all([this.repo.teams(), this.repo.keys()]);
    // Each entry this reload settles is marked with its step, so that a single read begun before it
    // and answered after it is dropped; one changed after it began keeps its newer state.
    const settles = (entry: string) => {
      if ((this.touched.get(entry) ?? 0) > s) return false;
      this.touched.set(entry, s);
      return true;
    };
    const teamIds = new Set(teams.map((t) => t.id));
    for (const id of [...this.teamsById.keys()]) if (!teamIds.has(id) && settles(`team:${id}`)) this.teamsById.delete(id);
    for (const t of teams) if (settles(`team:${t.id}`)) this.teamsById.set(t.id, t);
    const keyIds = new Set(keys.map((k) => k.id));
    for (const id of [...this.byId.keys()]) if (!keyIds.has(id) && settles(`key:${id}`)) this.uncacheKey(id);
    for (const k of keys) if (settles(`key:${k.id}`)) this.cache(k);
    this.misses.clear();
  }

  /** Who is calling; throws a 401 HubError for a missing (when required), unknown, revoked or expired key. */
  authenticate(headers: Record<string, string | string[] | undefined>, now = Date.now()): Principal {
    return this.principal(headers, now, false) as Principal;
  }

  /**
   * As `authenticate`, for hubs sharing a store: a key this hub's cache does not know may have
   * just been made by another hub, whose notice has not arrived yet, so the store is asked once
   * before answering 401. Misses are remembered for a few seconds and the lookups per second are
   * capped, so a flood of bad keys costs the database little. Without a feed, the same as
   * `authenticate` (no promise).
   */
  authenticateShared(headers: Record<string, string | string[] | undefined>, now = Date.now()): Principal | Promise<Principal> {
    return this.principal(headers, now, this.o.feed !== undefined);
  }

  private principal(headers: Record<string, string | string[] | undefined>, now: number, lookUp: boolean): Principal | Promise<Principal> {
    const presented = presentedKey(headers);
    if (!presented) {
      if (!this.authRequired) return { kind: 'open' };
      const problem = authorizationProblem(headers);
      if (problem) throw new HubError('authentication', problem, { code: 'invalid_authorization_header' });
      throw new HubError('authentication', 'Missing API key: send a Baimo key as `Authorization: Bearer <key>` or `x-api-key: <key>`.', { code: 'missing_api_key' });
    }
    const hash = this.hashOf(presented);
    if (hash === this.adminHash) return { kind: 'admin' };
    const key = this.byHash.get(hash);
    if (!key) {
      if (lookUp) return this.lookUp(hash).then((found) => (found ? this.admit(found.key, now, found.team) : this.unknown()));
      return this.unknown();
    }
    return this.admit(key, now);
  }

  private unknown(): Principal {
    if (!this.authRequired) return { kind: 'open' };
    throw new HubError('authentication', 'Invalid API key.', { code: 'invalid_api_key' });
  }

  /** A missed hash from the store, cached when found (with its team, if that is new here too). */
  private lookUp(hash: string): Promise<{ key: VirtualKey; team: Team | undefined } | undefined> {
    const now = Date.now();
    const until = this.misses.get(hash);
    if (until !== undefined) {
      if (until > now) return Promise.resolve(undefined);
      this.misses.delete(hash);
    }
    const pending = this.lookups.get(hash);
    if (pending) return pending;
    const second = Math.floor(now / 1000);
    if (this.lookupWindow.second !== second) this.lookupWindow = { second, count: 0 };
    if (++this.lookupWindow.count > (this.o.missLookupsPerSecond ?? 200)) return Promise.resolve(undefined);
    const s = ++this.step;
    const p = (async () => {
      try {
        // An unreachable store answers like an unknown key (never a 500), but is not remembered as a miss.
        const k = await this.repo.keyByHash(hash).catch(() => null);
        if (k === null) return undefined;
        if (!k) {
          if (this.misses.size >= 10_000) this.misses.clear();
          this.misses.set(hash, Date.now() + (this.o.missTtlMs ?? 5000));
          return undefined;
        }
        const team = await this.ensureTeam(k, s);
        // A later read or write of this key, under way or done, decides what is cached; this
        // request is judged on the state just read.
        if ((this.touched.get(`key:${k.id}`) ?? 0) <= s) this.cache(k);
        return { key: k, team };
      } finally {
        this.lookups.delete(hash);
      }
    })();
    this.lookups.set(hash, p);
    return p;
  }

  private admit(key: VirtualKey, now: number, team = key.teamId ? this.teamsById.get(key.teamId) : undefined): Principal {
    if (key.revokedAt !== undefined) throw new HubError('authentication', `The key ${key.prefix} has been revoked.`, { code: 'key_revoked' });
    if (key.expiresAt !== undefined && key.expiresAt <= now) {
      throw new HubError('authentication', `The key ${key.prefix} expired at ${new Date(key.expiresAt).toISOString()}.`, { code: 'key_expired' });
    }
    return { kind: 'key', key, team };
  }

  /** Recent keys' hashes: the same few keys arrive on every request. */
  private readonly hashes = new Map<string, string>();

  private hashOf(key: string): string {
    let h = this.hashes.get(key);
    if (h === undefined) {
      if (this.hashes.size >= 10_000) this.hashes.clear();
      h = hashKey(key);
      this.hashes.set(key, h);
    }
    return h;
  }

  /** Only the admin key passes. */
  requireAdmin(headers: Record<string, string | string[] | undefined>): void {
    const presented = presentedKey(headers);
    if (!presented) {
      const problem = authorizationProblem(headers);
      if (problem) throw new HubError('authentication', problem, { code: 'invalid_authorization_header' });
      throw new HubError('authentication', 'This needs the admin key as `Authorization: Bearer <admin key>`.', { code: 'missing_api_key' });
    }
    if (hashKey(presented) !== this.adminHash) throw new HubError('permission', 'This operation needs the admin key.', { code: 'admin_only' });
  }

  teams(): Team[] {
    return [...this.teamsById.values()];
  }

  team(id: string): Team {
    const t = this.teamsById.get(id);
    if (!t) throw new HubError('not_found', `No team '${id}'.`, { code: 'team_not_found' });
    return t;
  }

  async createTeam(input: TeamInput): Promise<Team> {
    const t: Team = { ...input, id: `team_${randomUUID().replace(/-/g, '').slice(0, 16)}`, name: input.name ?? 'team', metadata: input.metadata ?? {}, createdAt: Date.now() };
    await this.repo.saveTeam(t);
    this.teamsById.set(t.id, t);
    await this.changed('team', t.id);
    return t;
  }

  async updateTeam(id: string, patch: TeamInput): Promise<Team> {
    const t: Team = { ...this.team(id), ...patch, id };
    await this.repo.saveTeam(t);
    this.teamsById.set(id, t);
    await this.changed('team', id);
    return t;
  }

  async deleteTeam(id: string): Promise<void> {
    this.team(id);
    if ([...this.byId.values()].some((k) => k.teamId === id && k.revokedAt === undefined)) {
      throw new HubError('bad_request', `Team '${id}' still has active keys; revoke or move them first.`, { code: 'team_in_use', status: 409 });
    }
    await this.repo.deleteTeam(id);
    this.teamsById.delete(id);
    await this.changed('team', id);
  }

  keys(): VirtualKey[] {
    return [...this.byId.values()];
  }

  key(id: string): VirtualKey {
    const k = this.byId.get(id);
    if (!k) throw new HubError('not_found', `No key '${id}'.`, { code: 'key_not_found' });
    return k;
  }

  /** Creates a key; the returned secret is never stored and cannot be shown again. */
  async createKey(input: KeyInput): Promise<{ secret: string; key: VirtualKey }> {
    if (input.teamId) this.team(input.teamId);
    const { key: secret, hash, prefix } = newKey('sk-baimo');
    const { teamId, expiresAt, ...rest } = input;
    const k: VirtualKey = {
      ...rest,
      id: `key_${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      name: input.name ?? 'key',
      prefix,
      hash,
      teamId: teamId ?? undefined,
      ...(expiresAt != null && { expiresAt }),
      metadata: input.metadata ?? {},
      createdAt: Date.now(),
    };
    await this.repo.saveKey(k);
    this.cache(k);
    await this.changed('key', k.id);
    return { secret, key: k };
  }

  async updateKey(id: string, patch: KeyInput): Promise<VirtualKey> {
    const old = this.key(id);
    if (patch.teamId) this.team(patch.teamId);
    const { teamId, expiresAt, ...rest } = patch;
    const k: VirtualKey = {
      ...old,
      ...rest,
      id,
      ...(teamId !== undefined && { teamId: teamId ?? undefined }),
      ...(expiresAt !== undefined && (expiresAt === null ? { expiresAt: undefined } : { expiresAt })),
    };
    await this.repo.saveKey(k);
    this.cache(k);
    await this.changed('key', id);
    return k;
  }

  async revokeKey(id: string): Promise<VirtualKey> {
    const k: VirtualKey = { ...this.key(id), revokedAt: Date.now() };
    await this.repo.saveKey(k);
    this.cache(k);
    await this.changed('key', id);
    return k;
  }
}
