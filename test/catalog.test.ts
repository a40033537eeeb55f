import { describe, expect, it } from 'vitest';
import { CATALOG, findCatalogEntry, type CatalogEntry, type Modality } from '../src/catalog/models.js';
import { PROVIDER_PRESETS } from '../src/catalog/presets.js';

/** Presets whose own models are billed in CNY. DeepSeek is handled separately (either currency allowed; the catalog uses CNY). */
const CNY_PROVIDERS = new Set(['qwen', 'glm', 'kimi', 'doubao', 'minimax', 'qianfan', 'hunyuan', 'spark']);
/** Presets that bill in USD. */
const USD_PROVIDERS = new Set(['openai', 'anthropic', 'gemini']);
const MODALITIES: readonly Modality[] = ['text', 'image', 'audio', 'video', 'pdf'];

const label = (e: CatalogEntry) => `${e.providers.join(',')}/${e.id}`;

function isIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

describe('model catalog', () => {
  it('is not empty and every entry names at least one provider', () => {
    expect(CATALOG.length).toBeGreaterThan(0);
    for (const e of CATALOG) expect(e.providers.length, label(e)).toBeGreaterThan(0);
  });

  it('model ids are unique per provider', () => {
    const seen = new Set<string>();
    for (const e of CATALOG) {
      for (const p of e.providers) {
        const key = `${p}\u0000${e.id}`;
        expect(seen.has(key), `duplicate ${p}/${e.id}`).toBe(false);
        seen.add(key);
      }
      expect(new Set(e.providers).size, `repeated provider in ${label(e)}`).toBe(e.providers.length);
    }
  });

  it('every provider id is a preset', () => {
    const presetIds = new Set(PROVIDER_PRESETS.map((p) => p.id));
    for (const e of CATALOG) {
      for (const p of e.providers) expect(presetIds.has(p), `${label(e)}: unknown provider ${p}`).toBe(true);
    }
  });

  it('prices are positive finite numbers and cache reads are not dearer than input', () => {
    const positive = (n: number | undefined, what: string) => {
      expect(typeof n, what).toBe('number');
      expect(Number.isFinite(n), what).toBe(true);
      expect(n as number, what).toBeGreaterThan(0);
    };
    for (const e of CATALOG) {
      const p = e.price;
      positive(p.input, `${label(e)} input`);
      positive(p.output, `${label(e)} output`);
      if (p.cachedInput !== undefined) {
        positive(p.cachedInput, `${label(e)} cachedInput`);
        expect(p.cachedInput, `${label(e)} cachedInput <= input`).toBeLessThanOrEqual(p.input);
      }
      if (p.cacheWrite !== undefined) positive(p.cacheWrite, `${label(e)} cacheWrite`);
    }
  });

  it('limits are positive integers with contextWindow > maxOutput > 0', () => {
    for (const e of CATALOG) {
      expect(Number.isInteger(e.contextWindow), label(e)).toBe(true);
      expect(Number.isInteger(e.maxOutput), label(e)).toBe(true);
      expect(e.maxOutput, label(e)).toBeGreaterThan(0);
      expect(e.contextWindow, label(e)).toBeGreaterThan(e.maxOutput);
    }
  });

  it('bills Chinese providers in CNY and the others in USD (DeepSeek: either)', () => {
    for (const e of CATALOG) {
      for (const p of e.providers) {
        if (CNY_PROVIDERS.has(p)) expect(e.price.currency, label(e)).toBe('CNY');
        else if (USD_PROVIDERS.has(p)) expect(e.price.currency, label(e)).toBe('USD');
        else if (p === 'deepseek') expect(['CNY', 'USD'], label(e)).toContain(e.price.currency);
      }
    }
  });

  it('records an https source and an ISO asOf date', () => {
    for (const e of CATALOG) {
      const url = new URL(e.source);
      expect(url.protocol, `${label(e)} source`).toBe('https:');
      expect(isIsoDate(e.asOf), `${label(e)} asOf ${e.asOf}`).toBe(true);
    }
  });

  it('uses known modalities and always accepts and produces text', () => {
    for (const e of CATALOG) {
      for (const m of [...e.input, ...e.output]) expect(MODALITIES, label(e)).toContain(m);
      expect(e.input, label(e)).toContain('text');
      expect(e.output, label(e)).toContain('text');
      expect(e.name.trim().length, label(e)).toBeGreaterThan(0);
    }
  });

  it('findCatalogEntry matches provider and id exactly', () => {
    const first = CATALOG[0]!;
    expect(findCatalogEntry(first.providers[0]!, first.id)).toBe(first);
    expect(findCatalogEntry('no-such-provider', first.id)).toBeUndefined();
    expect(findCatalogEntry(first.providers[0]!, `${first.id}-no-such-model`)).toBeUndefined();
  });
});
