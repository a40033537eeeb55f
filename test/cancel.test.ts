import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { Cancel } from '../src/core/cancel.js';

describe('Cancel', () => {
  it('calls its listeners once, and a signal made before or after follows it', () => {
    const c = new Cancel();
    const early = c.signal;
    const calls: string[] = [];
    const off = () => calls.push('removed');
    c.once('abort', () => calls.push('a'));
    c.on('abort', off);
    c.removeListener('abort', off);
    c.abort('why');
    c.abort('again');
    expect(calls).toEqual(['a']);
    expect(early.aborted).toBe(true);
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe('why');
  });

  it('a child follows its parent (Cancel or AbortSignal) and times out on its own', async () => {
    const parent = new Cancel();
    const child = new Cancel(parent);
    parent.abort();
    expect(child.aborted).toBe(true);
    expect(child.timedOut).toBe(false);

    const ac = new AbortController();
    const fromSignal = new Cancel(ac.signal);
    ac.abort();
    expect(fromSignal.aborted).toBe(true);

    const timed = new Cancel(new Cancel());
    timed.timeout(5);
    await new Promise((r) => setTimeout(r, 30));
    expect(timed.aborted && timed.timedOut).toBe(true);
  });

  it('finishing the parent stops a child’s timer', async () => {
    const parent = new Cancel();
    const child = new Cancel(parent);
    child.timeout(5);
    parent.finish();
    await new Promise((r) => setTimeout(r, 30));
    expect(child.aborted).toBe(false);
  });
});

describe('Cancel children of a long-lived parent', () => {
  it('stop following it when finished, so a run of many calls leaves no listeners behind', () => {
    const run = new AbortController();
    const parent = new Cancel();
    for (let i = 0; i < 50; i++) {
      new Cancel(run.signal).finish();
      new Cancel(parent).finish();
    }
    expect(EventEmitter.getEventListeners(run.signal, 'abort')).toHaveLength(0);
    // A child still at work follows its parent as before.
    const live = new Cancel(run.signal);
    const child = new Cancel(parent);
    run.abort('stop');
    parent.abort('stop');
    expect([live.aborted, child.aborted]).toEqual([true, true]);
  });
});
