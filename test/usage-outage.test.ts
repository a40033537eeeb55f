/**
 * The usage recorder while its store is down or hung (usage/record.ts over usage/journal.ts):
 * nothing recorded is lost, nothing is stored twice, and memory stays bounded — past the limit
 * the journal's sealed segments alone hold the backlog, read back when the store answers again.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageJournal } from '../src/usage/journal.js';
import { UsageRecorder } from '../src/usage/record.js';
import type { UsageRecord, UsageSink } from '../src/usage/record.js';
import { usageRecord } from './helpers/usage-record.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function journalPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'baimo-outage-'));
  dirs.push(d);
  return join(d, 'usage.journal');
}
/** The journal's sealed segments on disk (the live journal file left out). */
const segments = (path: string) => readdirSync(join(path, '..')).filter((f) => f.startsWith('usage.journal.'));

function record(requestId: string): UsageRecord {
  return usageRecord({
    requestId, ts: Date.now(), model: 'loop/gpt-test', provider: 'loop', upstreamModel: 'gpt-test', deployment: 'loop/gpt-test',
    usage: { inputTokens: 12, outputTokens: 9 }, latencyMs: 5, ttftMs: undefined, costUsd: 0.001,
  });
}

/** A store that refuses every write while `down`, and counts what it stored, per request id. */
class FlakySink implements UsageSink {
  down = false;
  readonly stored = new Map<string, number>();
  batches = 0;
  writeUsageLines(jsonl: string): Promise<void> {
    if (this.down) return Promise.reject(new Error('the test store is down'));
    this.batches++;
    for (const line of jsonl.split('\n')) {
      const id = (JSON.parse(line) as UsageRecord).requestId;
      this.stored.set(id, (this.stored.get(id) ?? 0) + 1);
    }
    return Promise.resolve();
  }
  /** Request ids stored more than once. */
  twice(): string[] {
    return [...this.stored].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/** Lets timers and I/O run between bursts, as requests arriving over time do. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('the usage recorder while the store is down', () => {
  it('keeps at most its memory limit of records while the outage lasts, then stores every record once and deletes the segments', async () => {
    const path = journalPath();
    const sink = new FlakySink();
    const journal = new UsageJournal(path);
    const recorder = new UsageRecorder(sink, journal, 5, 100, { memoryLines: 1000 });
    const ids: string[] = [];
    sink.down = true;
    let peak = 0;
    for (let burst = 0; burst < 200; burst++) {
      for (let i = 0; i < 100; i++) {
        const id = `outage-${burst}-${i}`;
        ids.push(id);
        await new Promise<void>((journaled) => recorder.record(record(id), journaled));
      }
      await tick();
      peak = Math.max(peak, recorder.inMemory);
    }
    expect(sink.stored.size).toBe(0);
    expect(recorder.pending).toBe(20_000);
    // 20,000 records waiting, at most the limit plus the batch being filled in memory: the rest is on disk.
    expect(peak).toBeLessThanOrEqual(1000 + 100);
    expect(recorder.inMemory).toBeLessThanOrEqual(1100);
    expect(segments(path).length).toBeGreaterThan(100);

    sink.down = false;
    await expect.poll(() => recorder.pending, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sink.stored.size).toBe(20_000);
    expect(ids.filter((id) => !sink.stored.has(id))).toEqual([]);
    expect(sink.twice()).toEqual([]);
    // Segments read back from disk were deleted once stored: nothing is left for the next start to replay.
    expect(segments(path)).toEqual([]);
    expect(recorder.inMemory).toBe(0);
    await recorder.close();
    expect(UsageJournal.read(path).records).toEqual([]);
  });

  it('goes on recording through a store that fails every other write; each record is stored once', async () => {
    const path = journalPath();
    const sink = new FlakySink();
    const recorder = new UsageRecorder(sink, new UsageJournal(path), 2, 50, { memoryLines: 120 });
    const ids: string[] = [];
    for (let burst = 0; burst < 40; burst++) {
      sink.down = burst % 2 === 0;
      for (let i = 0; i < 60; i++) {
        ids.push(`flap-${burst}-${i}`);
        recorder.record(record(`flap-${burst}-${i}`));
      }
      await tick();
    }
    sink.down = false;
    await expect.poll(() => recorder.pending, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(ids.filter((id) => !sink.stored.has(id))).toEqual([]);
    expect(sink.twice()).toEqual([]);
    await recorder.close();
    expect(segments(path)).toEqual([]);
  });

  it('closed during an outage, it leaves every unstored record in the journal for the next start, and stores none twice after', async () => {
    const path = journalPath();
    const sink = new FlakySink();
    const recorder = new UsageRecorder(sink, new UsageJournal(path), 5, 100, { memoryLines: 150 });
    for (let i = 0; i < 50; i++) recorder.record(record(`before-${i}`));
    await expect.poll(() => recorder.pending, { interval: 5 }).toBe(0);
    sink.down = true;
    for (let burst = 0; burst < 10; burst++) {
      for (let i = 0; i < 100; i++) recorder.record(record(`down-${burst}-${i}`));
      await tick();
    }
    await recorder.close(); // one last try fails: it returns rather than waiting for the store
    const left = UsageJournal.read(path).records.map((r) => r.requestId);
    expect(left).toHaveLength(1000);
    expect(new Set(left).size).toBe(1000);
    expect(left.every((id) => id.startsWith('down-'))).toBe(true);
  });

  it('without a journal, a failed batch stays in memory, whatever the limit: there is nowhere else to keep it', async () => {
    const sink = new FlakySink();
    const recorder = new UsageRecorder(sink, undefined, 2, 10, { memoryLines: 5 });
    sink.down = true;
    for (let i = 0; i < 40; i++) recorder.record(record(`mem-${i}`));
    await expect.poll(() => recorder.inMemory, { interval: 5 }).toBe(40);
    sink.down = false;
    await expect.poll(() => recorder.pending, { timeout: 10_000, interval: 10 }).toBe(0);
    expect(sink.stored.size).toBe(40);
    expect(sink.twice()).toEqual([]);
    await recorder.close();
  });
});

describe('the usage recorder while the store hangs', () => {
  it('holds at most `writes` batches in flight and the memory limit in waiting; all are stored once it answers', async () => {
    const path = journalPath();
    const calls: { jsonl: string; release: () => void }[] = [];
    const stored: string[] = [];
    const hung: UsageSink = {
      writeUsageLines: (jsonl) =>
        new Promise<void>((resolve) => calls.push({ jsonl, release: () => (stored.push(...jsonl.split('\n').map((l) => (JSON.parse(l) as UsageRecord).requestId)), resolve()) })),
    };
    const recorder = new UsageRecorder(hung, new UsageJournal(path), 2, 100, { memoryLines: 500, writes: 3 });
    for (let burst = 0; burst < 50; burst++) {
      for (let i = 0; i < 100; i++) recorder.record(record(`hung-${burst}-${i}`));
      await tick();
    }
    expect(calls).toHaveLength(3);
    // Three batches in flight, 500 lines waiting in memory, the batch being filled: the other 4,000 on disk.
    expect(recorder.inMemory).toBeLessThanOrEqual(300 + 500 + 100);
    expect(recorder.pending).toBe(5000);
    // The store answers: every write from now on completes at once.
    const answer = () => {
      for (const c of calls.splice(0)) c.release();
    };
    const answering = setInterval(answer, 2);
    try {
      await expect.poll(() => recorder.pending, { timeout: 10_000, interval: 10 }).toBe(0);
    } finally {
      clearInterval(answering);
    }
    expect(stored).toHaveLength(5000);
    expect(new Set(stored).size).toBe(5000);
    await recorder.close();
    expect(segments(path)).toEqual([]);
  });
});

describe('a sealed journal segment read back', () => {
  it('gives its whole lines (a torn last line left out, so it cannot fail its batch for ever); a segment already gone reads as empty', async () => {
    const path = journalPath();
    const journal = new UsageJournal(path);
    journal.append(JSON.stringify(record('whole-1')));
    journal.append(JSON.stringify(record('whole-2')));
    const segment = journal.seal();
    appendFileSync(segment.path, JSON.stringify(record('torn')).slice(0, 40));
    journal.close();
    expect((await UsageJournal.readSegment(segment.path)).map((l) => (JSON.parse(l) as UsageRecord).requestId)).toEqual(['whole-1', 'whole-2']);
    segment.drop();
    expect(await UsageJournal.readSegment(segment.path)).toEqual([]);
  });
});
