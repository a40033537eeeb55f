import { describe, expect, it } from 'vitest';
import { FilterError, matches, MAX_FILTER_DEPTH, parseFilter } from '../../src/knowledge/filters.js';

const doc = { author: 'Li', year: 2021, draft: false, region: '华东' };

function check(raw: unknown, attrs: Record<string, string | number | boolean> | null = doc): boolean {
  return matches(parseFilter(raw), attrs);
}

describe('attribute filters (OpenAI comparison and compound filters)', () => {
  it('compares strings, numbers and booleans', () => {
    expect(check({ type: 'eq', key: 'author', value: 'Li' })).toBe(true);
    expect(check({ type: 'eq', key: 'author', value: 'Wang' })).toBe(false);
    expect(check({ type: 'ne', key: 'author', value: 'Wang' })).toBe(true);
    expect(check({ type: 'gt', key: 'year', value: 2020 })).toBe(true);
    expect(check({ type: 'gte', key: 'year', value: 2021 })).toBe(true);
    expect(check({ type: 'lt', key: 'year', value: 2021 })).toBe(false);
    expect(check({ type: 'lte', key: 'year', value: 2021 })).toBe(true);
    expect(check({ type: 'eq', key: 'draft', value: false })).toBe(true);
    expect(check({ type: 'eq', key: 'region', value: '华东' })).toBe(true);
  });

  it('in and nin take lists; a missing attribute fails a comparison and passes its negation', () => {
    expect(check({ type: 'in', key: 'year', value: [2019, 2021] })).toBe(true);
    expect(check({ type: 'in', key: 'author', value: ['Wang', 'Zhao'] })).toBe(false);
    expect(check({ type: 'nin', key: 'author', value: ['Wang'] })).toBe(true);
    expect(check({ type: 'eq', key: 'missing', value: 'x' })).toBe(false);
    expect(check({ type: 'ne', key: 'missing', value: 'x' })).toBe(true);
    expect(check({ type: 'eq', key: 'author', value: 'Li' }, null)).toBe(false);
  });

  it('does not compare across types, and never reads inherited properties', () => {
    expect(check({ type: 'gt', key: 'year', value: '2000' })).toBe(false);
    expect(check({ type: 'eq', key: 'year', value: '2021' })).toBe(false);
    expect(check({ type: 'eq', key: '__proto__', value: 'x' })).toBe(false);
    expect(check({ type: 'in', key: 'constructor', value: ['x'] })).toBe(false);
  });

  it('combines with and / or, nested', () => {
    const f = { type: 'and', filters: [{ type: 'gte', key: 'year', value: 2020 }, { type: 'or', filters: [{ type: 'eq', key: 'author', value: 'Wang' }, { type: 'eq', key: 'draft', value: false }] }] };
    expect(check(f)).toBe(true);
    expect(check(f, { ...doc, draft: true })).toBe(false);
  });

  it('refuses malformed filters with the path of the fault', () => {
    const bad: [unknown, string][] = [
      [null, 'filters'],
      ['eq', 'filters'],
      [{ type: 'like', key: 'a', value: 'b' }, 'filters.type'],
      [{ type: 'eq', value: 'b' }, 'filters.key'],
      [{ type: 'eq', key: 'x'.repeat(65), value: 'b' }, 'filters.key'],
      [{ type: 'eq', key: 'a', value: { $ne: 1 } }, 'filters.value'],
      [{ type: 'eq', key: 'a', value: 'v'.repeat(513) }, 'filters.value'],
      [{ type: 'gt', key: 'a', value: true }, 'filters.value'],
      [{ type: 'in', key: 'a', value: 'b' }, 'filters.value'],
      [{ type: 'in', key: 'a', value: [true] }, 'filters.value'],
      [{ type: 'and', filters: [] }, 'filters.filters'],
      [{ type: 'or', filters: [{ type: 'eq', key: 'a', value: 1 }, { type: 'eq', key: 'a' }] }, 'filters.filters[1].value'],
    ];
    for (const [raw, param] of bad) {
      const err = (() => {
        try {
          parseFilter(raw);
        } catch (e) {
          return e;
        }
      })();
      expect(err, JSON.stringify(raw)).toBeInstanceOf(FilterError);
      expect((err as FilterError).param).toBe(param);
    }
  });

  it('refuses absurd nesting and size without recursing into it', () => {
    let deep: unknown = { type: 'eq', key: 'a', value: 1 };
    for (let i = 0; i < 10_000; i++) deep = { type: 'and', filters: [deep] };
    expect(() => parseFilter(deep)).toThrow(/nested more than/);
    let ok: unknown = { type: 'eq', key: 'author', value: 'Li' };
    for (let i = 0; i < MAX_FILTER_DEPTH; i++) ok = { type: 'and', filters: [ok] };
    expect(check(ok)).toBe(true);
    const wide = { type: 'or', filters: Array.from({ length: 10_000 }, () => ({ type: 'eq', key: 'a', value: 1 })) };
    expect(() => parseFilter(wide)).toThrow(/more than 256 filters/);
    expect(() => parseFilter({ type: 'in', key: 'a', value: Array.from({ length: 1001 }, (_, i) => i) })).toThrow(FilterError);
  });
});
