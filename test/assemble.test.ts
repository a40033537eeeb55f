import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveProviders } from '../src/catalog/providers.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import type { Model } from '../src/core/model.js';
import { Redactor } from '../src/core/redact.js';
import type { ChatEvent } from '../src/core/types.js';
import { VIRTUAL_KINDS, cascadeKind, createVirtualModel, decomposeKind, judgeKind, moaKind, virtualModelMembers, virtualModelSchema, voteKind } from '../src/ensemble/index.js';
import { ragKind } from '../src/knowledge/rag.js';
import { routeKind } from '../src/ensemble/route.js';
import { Deployment } from '../src/routing/deployment.js';
import { Registry } from '../src/routing/registry.js';
import type { ModelEntry, RouteTable } from '../src/routing/registry.js';
import { DEFAULT_RETRY } from '../src/routing/router.js';
import type { Route } from '../src/routing/router.js';
import { assemble, assembleFrom } from '../src/server/assemble.js';
import { FakeCaller } from './ensemble/fake-caller.js';

const SRC = join(import.meta.dirname, '../src');
const source = (path: string) => readFileSync(join(SRC, path), 'utf8');
/** The modules a source file imports (static imports and re-exports), as written. */
/** A module's static imports and the modules it `import()`s when a command runs (cli/main.ts loads each command's lazily). */
const importsOf = (path: string) => [
  ...[...source(path).matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gms)].map((m) => m[1]!),
  ...[...source(path).matchAll(/\bimport\('([^']+)'\)/g)].map((m) => m[1]!),
];

const model = (provider: string): Model => ({
  provider,
  async *stream(): AsyncIterable<ChatEvent> {},
});

function route(name: string, m: Model, upstreamModel = name): Route {
  return { name, deployments: [new Deployment({ id: name, model: m, upstreamModel })], strategy: 'priority', retry: DEFAULT_RETRY, fallbacks: [] };
}

function table(over: Partial<RouteTable> = {}): RouteTable {
  const p = model('p');
  return {
    routes: new Map([['named', route('named', p, 'up-1')]]),
    aliases: new Map([['short', 'named'], ['direct', 'p/thing'], ['chain', 'short']]),
    upstreams: new Map([['p', { model: p }]]),
    providerModels: [
      { id: 'p/listed', ownedBy: 'p', kind: 'chat', upstream: { provider: 'p', model: 'listed' } },
      { id: 'p/embed', ownedBy: 'p', kind: 'embedding', upstream: { provider: 'p', model: 'embed' } },
      { id: 'p/listed', ownedBy: 'p', kind: 'chat', upstream: { provider: 'p', model: 'listed' } },
    ] satisfies ModelEntry[],
    priced: new Set(['p/priced']),
    notEnabled: new Map([['q', " Provider 'q' is not enabled: set Q_KEY."], ['p', ' (never shown: p is enabled)']]),
    redactor: new Redactor(),
    hasVirtualModels: false,
    ...over,
  };
}

describe('Registry: a plain name → route table', () => {
  it('serves the routes, aliases and on-demand provider/model routes of the table it is given', () => {
    const t = table();
    const r = new Registry(t);
    expect(r.resolve('named').route).toBe(t.routes.get('named'));
    expect(r.resolve('chain')).toEqual({ name: 'chain', route: t.routes.get('named') });
    const direct = r.resolve('p/anything/with/slashes').route;
    expect(direct.deployments[0]).toMatchObject({ provider: 'p', upstreamModel: 'anything/with/slashes' });
    expect(direct.retry.maxAttempts).toBe(2);
    // A direct route is made once and kept, so its deployment's state lasts.
    expect(r.resolve('p/anything/with/slashes').route).toBe(direct);
    expect(r.route('direct')!.deployments[0]!.upstreamModel).toBe('thing');
    expect(r.route('nobody/x')).toBeUndefined();
    expect(r.route('p/')).toBeUndefined();
    expect(r.redactor).toBe(t.redactor);
  });

  it('lists named models, aliases, then provider models once each, and knows only those names and priced ones', () => {
    const r = new Registry(table());
    expect(r.list().map((m) => m.id)).toEqual(['named', 'short', 'direct', 'chain', 'p/listed', 'p/embed']);
    expect(r.list().find((m) => m.id === 'short')).toMatchObject({ ownedBy: 'p', upstream: { provider: 'p', model: 'up-1' } });
    for (const n of ['named', 'short', 'p/listed', 'p/embed', 'p/priced']) expect(r.isKnown(n)).toBe(true);
    expect(r.isKnown('p/whatever')).toBe(false);
  });

  it('explains an unknown name with close matches and how to enable a provider that is off', () => {
    const r = new Registry(table());
    expect(() => r.resolve('o/listed')).toThrow(/Did you mean 'p\/listed'/);
    expect(() => r.resolve('q/model')).toThrow(/Provider 'q' is not enabled: set Q_KEY\./);
    let message = '';
    try {
      r.resolve('p/');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("The model 'p/' does not exist.");
    expect(message).not.toContain('never shown');
    r.addModel('q', model('q'));
    expect(r.resolve('q/model').route.deployments[0]!.provider).toBe('q');
  });

  it('checks a name without making a route for it', () => {
    const r = new Registry(table());
    expect(r.serves('direct')).toBe(true);
    expect(r.serves('p/other')).toBe(true);
    expect(r.serves('q/other')).toBe(false);
    expect(r.deployments().map((d) => d.model)).toEqual(['named']);
  });

  it('imports nothing that builds: no config, catalog, providers or ensemble', () => {
    const imports = importsOf('routing/registry.ts');
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports) expect(i).toMatch(/^\.\/|^\.\.\/core\//);
  });
});

describe('assemble: one start-up for serve and the CLI', () => {
  it('builds providers, routes, aliases and virtual models from config and environment', async () => {
    const config = validateConfig(
      parse(`
providers:
  loop:
    baseURL: http://127.0.0.1:9/v1
    apiKey: plainloopsecret123
    models: [a]
models:
  plain: { provider: loop, model: a }
  patient: { provider: loop, model: a, timeouts: { firstByteMs: 999 } }
aliases:
  fast: loop/b
virtualModels:
  both: { kind: vote, models: [plain, fast], samples: 2 }
`),
      {},
    );
    const a = await assemble(config, { DEEPSEEK_API_KEY: 'plaindeepseeksecret1' }, { detectOllama: false });
    expect(a.providers.map((p) => p.id).sort()).toEqual(['deepseek', 'loop']);
    expect(a.registry.redactor).toBe(a.redactor);
    expect(a.redactor.redact('keys plainloopsecret123 and plaindeepseeksecret1')).toBe('keys [REDACTED] and [REDACTED]');
    // Checking aliases and members made no direct route.
    expect(a.registry.deployments().map((d) => d.model)).toEqual(['plain', 'patient', 'both']);
    const shared = a.registry.route('loop/a')!.deployments[0]!.model;
    // A model with timeouts of its own gets provider instances of its own; the others share the provider's.
    expect(a.registry.route('plain')!.deployments[0]!.model).toBe(shared);
    expect(a.registry.route('patient')!.deployments[0]!.model).not.toBe(shared);
    expect(a.registry.route('fast')!.deployments[0]).toMatchObject({ provider: 'loop', upstreamModel: 'b' });
    const both = a.registry.route('both')!;
    expect(both.deployments[0]!.model.provider).toBe('virtual:vote');
    expect(both.retry.maxAttempts).toBe(1);
    expect(a.registry.hasVirtualModels).toBe(true);
  });

  it('names every problem at once, in config order', () => {
    const c = validateConfig(
      parse(`
providers:
  loop: { baseURL: http://127.0.0.1:9/v1 }
models:
  m: { provider: nope, model: x }
  dup: { provider: loop, model: x, fallbacks: [ghost] }
aliases:
  al: missing
virtualModels:
  dup: { kind: vote, models: [loop/x] }
  v: { kind: moa, proposers: [a/b], aggregator: v }
`),
      {},
    );
    let err: unknown;
    try {
      assembleFrom(c, resolveProviders(c, {}).values());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "models.m.provider: provider 'nope' is not enabled (set its API key variable, or add it under providers)",
      'virtualModels.dup: a model of this name is already configured under models',
      "aliases.al: target 'missing' is not a model this hub serves (expected a configured model, an alias, or provider/model of an enabled provider)",
      "models.dup.fallbacks[0]: 'ghost' is not a model this hub serves",
      "virtualModels.v: member 'a/b' is not a model this hub serves",
      'virtualModels.v: virtual models call each other in a loop: v → v',
    ]);
  });

  it('is what both `baimo serve` and the CLI call, and the only place that builds providers', () => {
    for (const f of ['server/start.ts', 'cli/main.ts']) {
      expect(importsOf(f)).toContain(f.startsWith('cli') ? '../server/assemble.js' : './assemble.js');
      expect(source(f)).not.toMatch(/new Registry\(|resolveProviders|createProvider|new PriceBook/);
    }
    expect(source('server/assemble.ts')).toMatch(/new Registry\(/);
  });
});

describe('virtual-model kinds come from one table', () => {
  it('each kind exports its schema, members and constructor, and the table builds the config schema from them', () => {
    const kinds = [cascadeKind, voteKind, moaKind, judgeKind, decomposeKind, ragKind, routeKind];
    const evidence = join(mkdtempSync(join(tmpdir(), 'baimo-kinds-')), 'evidence.json');
    writeFileSync(evidence, JSON.stringify({ results: { results: [{ provider: { id: 'a' }, vars: { kind: 'k' }, success: true, cost: 0.001, prompt: { raw: 'q' } }] } }));
    expect(VIRTUAL_KINDS).toEqual(kinds.map((k) => k.kind));
    expect(virtualModelSchema.options.map((o) => o.shape.kind.value)).toEqual(VIRTUAL_KINDS);
    const samples = {
      cascade: { kind: 'cascade', models: ['a', 'b'], check: { type: 'verifier', model: 'v' } },
      vote: { kind: 'vote', models: ['a', 'a', 'b'] },
      moa: { kind: 'moa', proposers: ['a', 'b'], aggregator: 'c' },
      judge: { kind: 'judge', candidates: ['a'], judge: 'j' },
      decompose: { kind: 'decompose', planner: 'p', workers: [{ model: 'w' }], synthesizer: 's' },
      rag: { kind: 'rag', model: 'a', vectorStores: ['vs_1'] },
      route: { kind: 'route', evidence, classifier: { model: 'c' } },
    };
    const caller = new FakeCaller({});
    for (const k of kinds) {
      const parsed = virtualModelSchema.parse(samples[k.kind]);
      expect(k.schema.parse(samples[k.kind])).toEqual(parsed);
      expect(virtualModelMembers(parsed)).toEqual([...new Set(k.members(parsed as never))]);
      expect(createVirtualModel(parsed, caller, { name: 'n' }).provider).toBe(`virtual:${k.kind}`);
    }
  });

  it('nothing outside the kinds branches on a kind', () => {
    for (const f of ['ensemble/kinds.ts', 'ensemble/index.ts', 'server/assemble.ts', 'routing/registry.ts']) {
      expect(source(f)).not.toMatch(/'(cascade|vote|moa|judge|decompose|rag|route)'/);
    }
  });
});
