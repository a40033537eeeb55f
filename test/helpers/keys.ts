import { expect } from 'vitest';

/**
 * Makes a key through the hub's admin API, as an operator would (`fields`: name, budget_usd,
 * allowed_models, rpm…); the test fails here unless the hub answers 201.
 */
export async function createKey(hubUrl: string, adminKey: string, fields: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await fetch(`${hubUrl}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(fields),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}
