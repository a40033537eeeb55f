import { describe, expect, it } from 'vitest';
import { timeOrderedId } from '../src/core/ids.js';

describe('request ids', () => {
  it('are unique and sort in the order they were made', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push(timeOrderedId('req_'));
    await new Promise((r) => setTimeout(r, 3));
    ids.push(timeOrderedId('req_'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{32}$/);
  });
});
