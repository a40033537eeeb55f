/**
 * The gateway outside any HTTP request: a call made with an explicit CallContext (as the CLI or
 * an evaluation run makes it) is admitted against its key, and a virtual model's member calls
 * are sub-calls of it: admitted, charged to the same key, and carried by the call's record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cancel } from '../src/core/cancel.js';
import type { ChatEvent } from '../src/core/types.js';
import { call } from '../src/gateway/call.js';
import { callContext } from '../src/gateway/context.js';
import { compileHooks } from '../src/gateway/hooks.js';
import type { Gateway } from '../src/gateway/context.js';
import type { Ledger } from '../src/tenancy/ledger.js';
import type { UsageRecord } from '../src/usage/record.js';
import { keyPrincipal as key, startTestGateway } from './helpers/gateway.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let gw: Gateway;
let ledger: Ledger;
const records: UsageRecord[] = [];

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  ({ gw, ledger } = await startTestGateway(
    {
      providers: { loop: { baseURL: upstream.baseURL } },
      pricing: { models: { 'loop/p1': { input: 1000, output: 1000 }, 'loop/p2': { input: 1000, output: 1000 }, 'loop/agg': { input: 1000, output: 1000 } } },
      virtualModels: {
        panel: { kind: 'moa', proposers: ['loop/p1', 'loop/p2'], aggregator: 'loop/agg' },
        // A virtual model calling another: its member's sub-calls are sub-calls of the same call.
        outer: { kind: 'moa', proposers: ['panel', 'loop/p1'], aggregator: 'loop/agg' },
      },
    },
    records,
  ));
});

afterAll(async () => {
  await gw?.recorder.close();
  await upstream?.close();
});

const ask = { model: '', messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is best?' }] }] };

async function drain(it: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('gateway.call outside any HTTP request', () => {
  it("a virtual model's sub-calls are admitted, charged to the caller's key and carried by the call's record", async () => {
    const before = upstream.requests.length;
    const events = await drain(call(gw, callContext(key('k1'), 'req_direct_1', new Cancel()), 'panel', ask));
    expect(events.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text).join('')).toBe('Hello from agg! You said: What is best?');
    expect(upstream.requests.slice(before).map((q) => q.body.model).sort()).toEqual(['agg', 'p1', 'p2']);
    // Three calls of 12 in + 9 out at $1000 per million each, settled against the key one by one.
    const perCall = ((12 + 9) * 1000) / 1e6;
    expect(ledger.spent('key:k1', 'month')).toBeCloseTo(3 * perCall, 9);
    await gw.recorder.close();
    const mine = records.filter((r) => r.requestId === 'req_direct_1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ model: 'panel', keyId: 'k1', final: true, status: 200, endpoint: 'chat' });
    expect(mine[0]!.costUsd).toBeCloseTo(3 * perCall, 9);
    expect((mine[0]!.trace as { steps: unknown[] }).steps).toHaveLength(3);
  });

  it('a sub-call is refused when the key cannot afford it, and nothing is charged', async () => {
    const before = upstream.requests.length;
    // A budget below one member call's worst case: the first sub-call is refused at admission.
    const poor = key('k2', { budgetUsd: 0.000001 });
    await expect(drain(call(gw, callContext(poor, 'req_direct_2', new Cancel()), 'panel', { ...ask, maxTokens: 100 }))).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(upstream.requests.length).toBe(before);
    expect(ledger.spent('key:k2', 'month')).toBe(0);
  });

  it('a call the key may not make is refused at admission and still recorded against the key', async () => {
    const limited = key('k3', { allowedModels: ['loop/p1'] });
    await expect(drain(call(gw, callContext(limited, 'req_direct_3', new Cancel()), 'panel', ask))).rejects.toMatchObject({ kind: 'permission' });
    await gw.recorder.close();
    expect(records.find((r) => r.requestId === 'req_direct_3')).toMatchObject({ keyId: 'k3', status: 403, errorKind: 'permission', final: true });
  });
  it("a nested virtual model's sub-calls are charged to the same key, and the top-level record carries all of them", async () => {
    const before = upstream.requests.length;
    await drain(call(gw, callContext(key('k4'), 'req_direct_4', new Cancel()), 'outer', { ...ask, maxTokens: 50 }));
    // outer: panel (p1, p2, agg) + p1 + agg.
    expect(upstream.requests.slice(before).map((q) => q.body.model).sort()).toEqual(['agg', 'agg', 'p1', 'p1', 'p2']);
    await gw.recorder.close();
    const mine = records.filter((r) => r.requestId === 'req_direct_4');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.keyId).toBe('k4');
    expect(mine[0]!.costUsd).toBeGreaterThan(0);
    expect(ledger.spent('key:k4', 'month')).toBeCloseTo(mine[0]!.costUsd!, 12);
  });
});

describe("a virtual model's member calls run through the hooks", () => {
  it('a pre-hook may answer a member call (nothing routed for it); post-hooks see every sub-call with its cost', async () => {
    const seen: { via: string; id: string; model: string; cost: number | undefined; parent: string | undefined }[] = [];
    const hooks = compileHooks([
      {
        name: 'member-cache',
        pre(c) {
          // Answers the second proposer from a "cache": the upstream never sees p2.
          if (c.via !== 'sub-call' || c.out.model !== 'loop/p2') return undefined;
          return { events: [{ type: 'text', choice: 0, text: 'cached p2' }, { type: 'usage', usage: { inputTokens: 1, outputTokens: 2 } }, { type: 'finish', choice: 0, reason: 'stop' }] };
        },
      },
      {
        name: 'audit',
        post(end) {
          seen.push({ via: end.info.via, id: end.info.call!.requestId, model: end.out.model, cost: end.costUsd, parent: end.info.call!.parent?.requestId });
        },
      },
    ]);
    const hookedGw: Gateway = { ...gw, hooks };
    const before = upstream.requests.length;
    const events = await drain(call(hookedGw, callContext(key('k5'), 'req_hooked_1', new Cancel()), 'panel', ask));
    expect(events.some((e) => e.type === 'text')).toBe(true);
    expect(upstream.requests.slice(before).map((q) => q.body.model).sort()).toEqual(['agg', 'p1']);
    // The aggregator was shown the cached proposer's answer.
    expect(JSON.stringify(upstream.requests.at(-1)!.body)).toContain('cached p2');
    const subs = seen.filter((s) => s.via === 'sub-call');
    expect(subs.map((s) => s.model).sort()).toEqual(['loop/agg', 'loop/p1', 'loop/p2']);
    for (const s of subs) {
      expect(s.parent).toBe('req_hooked_1');
      expect(s.id).toMatch(/^req_hooked_1:\d$/);
    }
    const perCall = ((12 + 9) * 1000) / 1e6;
    expect(subs.find((s) => s.model === 'loop/p1')!.cost).toBeCloseTo(perCall, 9);
    // An answer from a hook has no deployment and so no price: it costs nothing.
    expect(subs.find((s) => s.model === 'loop/p2')!.cost).toBeUndefined();
    // The top-level call's post-hook runs last, with the sub-calls' total.
    expect(seen.at(-1)).toMatchObject({ via: 'call', id: 'req_hooked_1', model: 'panel' });
    expect(seen.at(-1)!.cost).toBeCloseTo(2 * perCall, 9);
    expect(ledger.spent('key:k5', 'month')).toBeCloseTo(2 * perCall, 9);
  });
});
