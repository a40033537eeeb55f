import { randomUUID } from 'node:crypto';
import { HubError } from '../core/errors.js';
import type { TenancyStore } from './ports.js';
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

/**
 * Keys and teams, cached in memory so that authenticating a request is one hash and one map
 * lookup; every change is written through to the store and takes effect at once (see
 * TenancyStore for how a store shared by several hubs keeps this cache fresh).
 */
export class Tenancy {
  private readonly byHash = new Map<string, VirtualKey>();
  private readonly byId = new Map<string, VirtualKey>();
  private readonly teamsById = new Map<string, Team>();

  private constructor(
    private readonly repo: TenancyStore,
    private readonly adminHash: string,
    /** When false, requests without a key are let through (keys presented are still honoured). */
    readonly authRequired: boolean,
    teams: readonly Team[],
    keys: readonly VirtualKey[],
  ) {
    for (const t of teams) this.teamsById.set(t.id, t);
    for (const k of keys) this.cache(k);
  }

  /**
   * The admin key comes from BAIMO_ADMIN_KEY; without it one is generated on first start, its
   * hash stored, and the key itself returned once for the operator to copy.
   */
  static async open(
    repo: TenancyStore,
    adminKeyFromEnv: string | undefined,
    authRequired: boolean,
    /** `generate: false` (the CLI): without an admin key, none is made; no key authenticates as admin. */
    o: { readonly generate?: boolean } = {},
  ): Promise<{ tenancy: Tenancy; generatedAdminKey?: string }> {
    const make = async (adminHash: string) => new Tenancy(repo, adminHash, authRequired, await repo.teams(), await repo.keys());
    if (adminKeyFromEnv) return { tenancy: await make(hashKey(adminKeyFromEnv)) };
    const stored = await repo.getSetting(ADMIN_HASH);
    if (stored) return { tenancy: await make(stored) };
    if (o.generate === false) return { tenancy: await make('') };
    const k = newKey('sk-baimo-admin');
    await repo.setSetting(ADMIN_HASH, k.hash);
    return { tenancy: await make(k.hash), generatedAdminKey: k.key };
  }

  private cache(k: VirtualKey): void {
    const old = this.byId.get(k.id);
    if (old) this.byHash.delete(old.hash);
    this.byId.set(k.id, k);
    this.byHash.set(k.hash, k);
  }

  /** Who is calling; throws a 401 HubError for a missing (when required), unknown, revoked or expired key. */
  authenticate(headers: Record<string, string | string[] | undefined>, now = Date.now()): Principal {
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
      if (!this.authRequired) return { kind: 'open' };
      throw new HubError('authentication', 'Invalid API key.', { code: 'invalid_api_key' });
    }
    if (key.revokedAt !== undefined) throw new HubError('authentication', `The key ${key.prefix} has been revoked.`, { code: 'key_revoked' });
    if (key.expiresAt !== undefined && key.expiresAt <= now) {
      throw new HubError('authentication', `The key ${key.prefix} expired at ${new Date(key.expiresAt).toISOString()}.`, { code: 'key_expired' });
    }
    return { kind: 'key', key, team: key.teamId ? this.teamsById.get(key.teamId) : undefined };
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
    return t;
  }

  async updateTeam(id: string, patch: TeamInput): Promise<Team> {
    const t: Team = { ...this.team(id), ...patch, id };
    await this.repo.saveTeam(t);
    this.teamsById.set(id, t);
    return t;
  }

  async deleteTeam(id: string): Promise<void> {
    this.team(id);
    if ([...this.byId.values()].some((k) => k.teamId === id && k.revokedAt === undefined)) {
      throw new HubError('bad_request', `Team '${id}' still has active keys; revoke or move them first.`, { code: 'team_in_use', status: 409 });
    }
    await this.repo.deleteTeam(id);
    this.teamsById.delete(id);
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
    return k;
  }

  async revokeKey(id: string): Promise<VirtualKey> {
    const k: VirtualKey = { ...this.key(id), revokedAt: Date.now() };
    await this.repo.saveKey(k);
    this.cache(k);
    return k;
  }
}
