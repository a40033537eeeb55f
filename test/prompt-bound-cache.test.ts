/**
 * promptTokenBound is asked for up to three times per virtual-model member call (the run's cost
 * ceiling, the sub-call's admission, the worst case per route): it walks a request's messages
 * once per request object and answers the same bound after that.
 */
import { describe, expect, it } from 'vitest';
import type { ChatRequest, Message } from '../src/core/types.js';
import { promptTokenBound } from '../src/usage/estimate.js';

/** A request whose message list counts the walks over it. */
function counted(): { request: ChatRequest; walks: () => number } {
  let walks = 0;
  const messages: Message[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: [{ type: 'text', text: 'x'.repeat(10_000) }] },
    { role: 'assistant', content: 'ok', toolCalls: [{ id: 'c1', name: 'get_time', arguments: '{"tz":"UTC"}' }] },
  ];
  const list = new Proxy(messages, {
    get(target, key, receiver) {
      if (key === Symbol.iterator) walks++;
      return Reflect.get(target, key, receiver);
    },
  });
  const request: ChatRequest = { model: 'm', messages: list, tools: [{ name: 'get_time', parameters: { type: 'object' } }] };
  return { request, walks: () => walks };
}

describe('promptTokenBound per request object', () => {
  it('walks the messages once however often it is asked, and answers the same bound as an uncached request', () => {
    const { request, walks } = counted();
    const first = promptTokenBound(request);
    expect(promptTokenBound(request)).toBe(first);
    expect(promptTokenBound(request)).toBe(first);
    expect(walks()).toBe(1);
    // A copy is another request: computed afresh, to the same value.
    const copy = structuredClone({ ...request, messages: [...request.messages] });
    expect(promptTokenBound(copy)).toBe(first);
    expect(first).toBeGreaterThan(10_000);
  });

  it('another request object with more in it gets its own, larger bound', () => {
    const { request } = counted();
    const base = promptTokenBound(request);
    const longer: ChatRequest = { ...request, messages: [...request.messages, { role: 'user', content: [{ type: 'text', text: 'y'.repeat(500) }] }] };
    expect(promptTokenBound(longer)).toBeGreaterThanOrEqual(base + 500);
    expect(promptTokenBound(request)).toBe(base);
  });
});
