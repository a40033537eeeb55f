/**
 * Deleting a team over the admin API: refused (409) while it has active keys, allowed once they
 * are revoked — the revoked keys keep naming the team they belonged to, and survive a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../src/server/start.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baimo-teams-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const start = () => startHub({ port: '0', host: '127.0.0.1', dataDir: dir, env: { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });

async function admin(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('DELETE /admin/teams/{id}', () => {
  it('is refused while the team has an active key, and succeeds once its keys are revoked', async () => {
    const hub = await start();
    let closed = false;
    try {
      const team = await admin(hub.url, 'POST', '/admin/teams', { name: 'leaving' });
      expect(team.status).toBe(201);
      const key = await admin(hub.url, 'POST', '/admin/keys', { name: 'k', team_id: team.body.id });
      expect(key.status).toBe(201);

      const busy = await admin(hub.url, 'DELETE', `/admin/teams/${team.body.id}`);
      expect(busy.status).toBe(409);
      expect(busy.body.error.code).toBe('team_in_use');

      expect((await admin(hub.url, 'POST', `/admin/keys/${key.body.id}/revoke`)).status).toBe(200);
      const gone = await admin(hub.url, 'DELETE', `/admin/teams/${team.body.id}`);
      expect(gone).toEqual({ status: 200, body: { id: team.body.id, object: 'team', deleted: true } });
      expect((await admin(hub.url, 'GET', `/admin/teams/${team.body.id}`)).status).toBe(404);
      // The revoked key is still listed, still naming the team it belonged to.
      const listed = await admin(hub.url, 'GET', `/admin/keys/${key.body.id}`);
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ id: key.body.id, team_id: team.body.id });
      expect(listed.body.revoked_at).toEqual(expect.any(String));

      // A restart reads the same keys and teams back.
      await hub.close();
      closed = true;
      const again = await start();
      try {
        expect((await admin(again.url, 'GET', `/admin/teams/${team.body.id}`)).status).toBe(404);
        expect((await admin(again.url, 'GET', `/admin/keys/${key.body.id}`)).body).toMatchObject({ id: key.body.id, team_id: team.body.id });
      } finally {
        await again.close();
      }
    } finally {
      if (!closed) await hub.close();
    }
  });
});
