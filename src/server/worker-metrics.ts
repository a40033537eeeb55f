/**
 * One scrape of /metrics answers for every worker of `baimo serve --workers N`, as one scrape of
 * a single hub answers for it. Workers cannot reach each other, so the primary relays (it does no
 * other work for this): the scraped worker asks it for the others' metrics; the primary asks each
 * ready worker, and answers with those that replied within METRICS_WAIT_MS and how many did not;
 * the scraped worker adds its own and aggregates (usage/metrics.ts, with prom-client's
 * AggregatorRegistry.aggregate), so the primary only passes messages on and stays free to hand
 * out connections. prom-client's own `clusterMetrics` is not used: it is asked of the primary (no
 * worker can call it), waits 5 s and then fails the whole scrape, where a slow worker should only
 * be left out.
 *
 * The sum must never go down between scrapes: Prometheus reads any drop in a counter as a reset
 * and counts the whole new value as increase, so one worker left out of one scrape would show as
 * a spike of every other worker's total in rate() and increase(). The primary therefore keeps
 * each worker's last answer (the scraped worker is asked too, to keep its own current): a worker
 * late to answer is stood in for by its last answer, and a worker that exits leaves its last
 * counters and histograms behind, added to every later scrape, so its replacement starts from
 * zero on top of them.
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { MetricsGroup, MetricsJSON } from '../usage/metrics.js';

/** How long the primary waits for the workers' metrics: a stopped or busy worker is left out after this. */
export const METRICS_WAIT_MS = 1_000;
/** How long a worker waits for the primary's answer before it answers with its own metrics alone. */
const WORKER_WAIT_MS = METRICS_WAIT_MS + 1_000;

// The messages, worker → primary → worker → primary → worker. `id` pairs each answer with its question.
interface Scrape { readonly baimo: 'metrics-scrape'; readonly id: number }
interface Collect { readonly baimo: 'metrics-collect'; readonly id: number }
interface Collected { readonly baimo: 'metrics-collected'; readonly id: number; readonly metrics: MetricsJSON }
interface Scraped { readonly baimo: 'metrics-scraped'; readonly id: number; readonly metrics: MetricsJSON[]; readonly missing: number }

const is = <T extends { baimo: string; id: number }>(kind: T['baimo']) => (m: unknown): m is T =>
  typeof m === 'object' && m !== null && (m as T).baimo === kind && Number.isSafeInteger((m as T).id);
const isScrape = is<Scrape>('metrics-scrape');
const isCollect = is<Collect>('metrics-collect');
const isCollected = is<Collected>('metrics-collected');
const isScraped = is<Scraped>('metrics-scraped');

/** Sends to the primary; a channel already closed (the primary is gone) is not an error here. */
function toPrimary(m: Scrape | Collected): boolean {
  if (!process.send || !process.connected) return false;
  process.send(m, () => {});
  return true;
}

type Others = Awaited<ReturnType<MetricsGroup['others']>>;

/** The worker's side: worker `index` of `count`. */
export function workerMetricsGroup(index: number, count: number): MetricsGroup {
  let next = 0;
  const waiting = new Map<number, (m: Scraped) => void>();
  let asking: Promise<Others> | undefined;
  process.on('message', (m: unknown) => {
    if (isScraped(m)) waiting.get(m.id)?.(m);
  });
  /** One question to the primary for the others' metrics (none when this worker is the only one). */
  const ask = (): Promise<Others> =>
    new Promise((resolve) => {
      const alone = { metrics: [], missing: count - 1 };
      if (count === 1) return resolve(alone);
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(alone);
      }, WORKER_WAIT_MS);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve({ metrics: m.metrics, missing: m.missing });
      });
      if (!toPrimary({ baimo: 'metrics-scrape', id })) waiting.get(id)?.({ baimo: 'metrics-scraped', id, metrics: [], missing: count - 1 });
    });
  return {
    member: String(index),
    serve(local) {
      process.on('message', (m: unknown) => {
        if (!isCollect(m)) return;
        // A failure to read its own registry leaves this worker out of that scrape, counted as missing.
        local().then((metrics) => toPrimary({ baimo: 'metrics-collected', id: m.id, metrics }), () => {});
      });
    },
    others() {
      // Scrapes that come while one is being gathered share its answer: however many arrive at
      // once, each worker has at most one question out, so the others do not do N times the work.
      return (asking ??= ask().finally(() => (asking = undefined)));
    },
  };
}

interface Pending {
  readonly from: Worker;
  readonly id: number;
  readonly waiting: Set<Worker>;
  readonly parts: MetricsJSON[];
  readonly timer: NodeJS.Timeout;
}

/**
 * The primary's side: relays one worker's scrape to the others. `workers()` lists the ready
 * workers now; `count` is how many there should be (a slot being refilled counts as missing).
 */
export class MetricsRelay {
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  /** Each live worker's latest answer. */
  private readonly last = new Map<Worker, MetricsJSON>();
  /** The counters and histograms of workers that exited, as they last answered (merged into one when they can be). */
  private retired: MetricsJSON[] = [];
  private merging = false;

  constructor(
    private readonly count: number,
    private readonly workers: () => Worker[],
  ) {}

  /** A message from `worker`; true when it was this relay's. */
  handle(worker: Worker, m: unknown): boolean {
    if (isScrape(m)) this.scrape(worker, m.id);
    else if (isCollected(m)) this.collected(worker, m);
    else return false;
    return true;
  }

  /** A worker that exits will not answer: the scrapes waiting for it need not wait any longer. */
  gone(worker: Worker): void {
    const last = this.last.get(worker);
    this.last.delete(worker);
    if (last) this.retire(last);
    for (const [key, p] of this.pending) if (p.waiting.delete(worker) && p.waiting.size === 0) this.finish(key);
  }

  /** Keeps what an exited worker counted (gauges go: it no longer has any requests in flight). */
  private retire(last: MetricsJSON): void {
    this.retired.push(last.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram'));
    void this.merge();
  }

  /** Sums the retired parts into one, so a worker crashing over and over does not grow them. */
  private async merge(): Promise<void> {
    if (this.merging || this.retired.length < 2) return;
    this.merging = true;
    const parts = this.retired.slice();
    try {
      const merged = await AggregatorRegistry.aggregate(parts).getMetricsAsJSON();
      this.retired = [merged, ...this.retired.slice(parts.length)];
    } catch {
      return; // left unmerged: still added to every scrape, only not summed ahead of time
    } finally {
      this.merging = false;
    }
    void this.merge();
  }

  private scrape(from: Worker, id: number): void {
    const key = this.next++;
    const asked = this.workers().filter((w) => w !== from && w.isConnected());
    const p: Pending = { from, id, waiting: new Set(asked), parts: [], timer: setTimeout(() => this.finish(key), METRICS_WAIT_MS) };
    this.pending.set(key, p);
    for (const w of asked) w.send({ baimo: 'metrics-collect', id: key } satisfies Collect, () => {});
    // The scraped worker is asked too, not waited for: its answer (taken after the metrics it
    // serves) keeps its last answer current, should it exit before the next scrape.
    if (from.isConnected()) from.send({ baimo: 'metrics-collect', id: key } satisfies Collect, () => {});
    if (asked.length === 0) this.finish(key);
  }

  private collected(worker: Worker, m: Collected): void {
    if (this.workers().includes(worker)) this.last.set(worker, m.metrics);
    const p = this.pending.get(m.id);
    // An answer after the wait (or from a worker not asked) is dropped: that scrape has gone without it.
    if (!p || !p.waiting.delete(worker)) return;
    p.parts.push(m.metrics);
    if (p.waiting.size === 0) this.finish(m.id);
  }

  private finish(key: number): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    // Those that did not answer in time stand in with their last answer; those that exited with what they counted.
    const stale = [...p.waiting].map((w) => this.last.get(w)).filter((m): m is MetricsJSON => m !== undefined);
    const answer: Scraped = { baimo: 'metrics-scraped', id: p.id, metrics: [...p.parts, ...stale, ...this.retired], missing: this.count - 1 - p.parts.length };
    if (p.from.isConnected()) p.from.send(answer, () => {});
  }
}
