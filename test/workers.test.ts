/**
 * `baimo serve --workers 2`, run as users run it (the real entry point, from source) on a fresh
 * PostgreSQL database: both workers answer on one port and every answered request is recorded;
 * a worker killed with SIGKILL is replaced in its own data directory while the other keeps
 * answering; SIGTERM stops them all with exit 0; and without a shared store the command refuses
 * with exit 2, saying why.
 *
 * One scrape of GET /metrics answers for both workers, whichever it reaches: the total count is
 * every worker's, and `baimo_worker_requests_total{worker}` tells how requests were spread —
 * requests sent over two keep-alive connections (cluster hands each new connection to the next
 * worker) in different numbers show up as the two workers' counts. A worker that cannot answer
 * (stopped with SIGSTOP) does not hold the scrape, which says so and keeps its last count; a killed
 * worker's counts stay in the sums after its replacement, so no total goes down.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ROOT = join(import.meta.dirname, '..');
/** tsx's loader by absolute URL: the child runs in a temp directory with no node_modules. */
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const ADMIN = 'sk-baimo-admin-workers-00000000000000';
let upstream: OpenAIUpstream;
let dir: string;

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  out(): string;
  err(): string;
}
const started: Run[] = [];

/** Runs the real `baimo` entry point with a clean environment. */
function baimo(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, LOOP_URL: upstream.baseURL, BAIMO_ADMIN_KEY: ADMIN, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const run = { child, exited, out: () => stdout, err: () => stderr };
  started.push(run);
  return run;
}

/** One request; `agent` false opens a new connection for it. */
function send(url: string, method: string, path: string, agent: Agent | false, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const hi = { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] };

/** `n` chat requests one after another over one keep-alive connection, which one worker serves. */
async function overOneConnection(url: string, n: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await send(url, 'POST', '/v1/chat/completions', agent, hi)).status);
    return statuses;
  } finally {
    agent.destroy();
  }
}

/** What one scrape of /metrics says (over `agent`; false: a new connection, so each worker in turn). */
async function scrape(url: string, agent: Agent | false = false) {
  const { status, text } = await send(url, 'GET', '/metrics', agent);
  expect(status).toBe(200);
  const sum = (prefix: string, needle = '') => {
    let n = 0;
    for (const line of text.split('\n')) if (line.startsWith(prefix) && line.includes(needle)) n += Number(line.split(' ').at(-1));
    return n;
  };
  const perWorker = new Map<string, number>();
  for (const m of text.matchAll(/^baimo_worker_requests_total\{worker="(\d+)"\} (\d+)$/gm)) perWorker.set(m[1]!, Number(m[2]));
  const missing = /^baimo_metrics_workers_missing (\d+)$/m.exec(text)?.[1];
  return {
    /** Final requests counted, all workers together. */
    total: sum('baimo_requests_total{', 'attempt="final"'),
    /** The latency histogram's count: histograms are merged too. */
    timed: sum('baimo_request_duration_seconds_count{'),
    perWorker,
    missing: missing === undefined ? undefined : Number(missing),
  };
}

/** The two workers' counts, smaller first (which worker got which connection is cluster's choice). */
const spread = (m: Map<string, number>) => [...m.values()].sort((a, b) => a - b);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), 'baimo-workers-'));
  writeFileSync(join(dir, 'baimo.yaml'), `providers:\n  loop:\n    baseURL: \${LOOP_URL}\n    models: [gpt-test]\n`);
});

afterAll(async () => {
  // Nothing left running if a test failed half-way.
  for (const r of started) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('baimo serve --workers', () => {
  it('refuses --workers 2 without a shared store, exit 2, saying it needs BAIMO_DATABASE_URL and why', async () => {
    const data = join(dir, 'no-store');
    const run = baimo(['serve', '--workers', '2', '--port', '0', '--data-dir', data]);
    expect(await run.exited).toBe(2);
    expect(run.err()).toMatch(/^error: --workers 2 requires the shared store: set BAIMO_DATABASE_URL \(or store\.url in baimo\.yaml\) — the embedded SQLite store can be used by one process only\n$/);
    expect(run.out()).toBe('');
    // Nothing started: no data directory was made.
    expect(existsSync(data)).toBe(false);
  });

  it('refuses a --workers that is not a positive whole number, exit 2', async () => {
    for (const bad of ['0', '1.5', 'two']) {
      const run = baimo(['serve', '--workers', bad, '--port', '0', '--data-dir', join(dir, 'bad')]);
      expect(await run.exited).toBe(2);
      expect(run.err()).toBe(`error: --workers expects a positive whole number of processes, not '${bad}'\n`);
    }
  });

  describe('two workers on PostgreSQL', () => {
    let db: TestDatabase;
    let client: pg.Client;
    let run: Run;
    let url: string;
    let pids: number[];
    const data = () => join(dir, 'data');
    const recorded = async () => (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM usage WHERE final = 1 AND status = 200')).rows[0]!.n;
    let answered = 0;

    beforeAll(async () => {
      db = await createTestDatabase();
      client = new pg.Client({ connectionString: db.url });
      await client.connect();
      run = baimo(['serve', '--workers', '2', '--port', '0', '--data-dir', data()], { BAIMO_DATABASE_URL: db.url });
      // (expect.poll is for tests only.) Both workers listen before the banner is printed.
      for (const until = Date.now() + 60_000; !/listening on http/.test(run.out()); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > until || run.child.exitCode !== null) throw new Error(`the hub did not start:\n${run.err()}${run.out()}`);
      }
      url = /listening on (http:\S+)/.exec(run.out())![1]!;
      pids = /workers: 2 processes sharing the port \(pids (\d+), (\d+)\)/.exec(run.out())!.slice(1).map(Number);
    }, 90_000);

    afterAll(async () => {
      await client?.end();
      await db?.drop();
    });

    it('both workers answer on one port, each with its own journal directory, and every answer is recorded in PostgreSQL', async () => {
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      // The banner (and its admin key section, absent here: the key is given) is printed once.
      expect(run.out().match(/listening on/g)).toHaveLength(1);
      const first = await overOneConnection(url, 5);
      const second = await overOneConnection(url, 9);
      expect([...first, ...second].every((s) => s === 200)).toBe(true);
      answered += 14;
      // Scrapes over new connections reach each worker in turn; every one answers for both.
      for (let i = 0; i < 4; i++) {
        const m = await scrape(url);
        expect(m.total).toBe(14);
        expect(m.timed).toBe(14);
        expect(m.missing).toBe(0);
        // One worker served the first connection's 5, the other the second's 9.
        expect([...m.perWorker.keys()].sort()).toEqual(['1', '2']);
        expect(spread(m.perWorker)).toEqual([5, 9]);
      }
      expect(readdirSync(data()).sort()).toEqual(['worker-1', 'worker-2']);
      await expect.poll(recorded, { timeout: 10_000 }).toBe(answered);
    }, 60_000);

    it('/metrics keeps its auth: without the admin key every worker refuses the scrape', async () => {
      // A key of the hub's own, just not the admin's.
      const made = await send(url, 'POST', '/admin/keys', false, { name: 'not-admin' });
      expect(made.status).toBe(201);
      const member = (JSON.parse(made.text) as { key: string }).key;
      // New connections, so both workers are asked each way.
      for (let i = 0; i < 2; i++) {
        for (const [authorization, status] of [[undefined, 401], [`Bearer ${member}`, 403]] as const) {
          const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
            const req = request(`${url}/metrics`, { agent: false, headers: authorization ? { authorization } : {} }, (r) => {
              let text = '';
              r.setEncoding('utf8');
              r.on('data', (d: string) => (text += d));
              r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
            });
            req.on('error', reject);
            req.end();
          });
          expect(res.status).toBe(status);
          expect(res.text).not.toContain('baimo_');
        }
      }
    });

    it('a burst of scrapes at once: every one answers for both workers', async () => {
      const all = await Promise.all(Array.from({ length: 100 }, () => scrape(url)));
      for (const m of all) {
        expect(m.total).toBe(answered);
        expect(m.missing).toBe(0);
        expect(spread(m.perWorker)).toEqual([5, 9]);
      }
    }, 30_000);

    it('a killed worker is replaced in its own directory while the other keeps answering', async () => {
      const [victim, survivor] = pids as [number, number];
      // Two scrapes on new connections reach both workers in turn, so the primary has each one's count as of now.
      await scrape(url);
      const before = (await scrape(url)).perWorker;
      const [victimBefore, survivorBefore] = [before.get('1')!, before.get('2')!];
      process.kill(victim, 'SIGKILL');
      await expect.poll(() => run.out().includes(`"msg":"worker stopped unexpectedly; starting a new one","worker":1,"pid":${victim}`), { timeout: 10_000 }).toBe(true);
      // Until the replacement listens, the other worker answers every new connection.
      const during = await Promise.all(Array.from({ length: 10 }, () => send(url, 'POST', '/v1/chat/completions', false, hi)));
      expect(during.map((r) => r.status)).toEqual(Array(10).fill(200));
      answered += 10;
      await expect.poll(() => /"msg":"worker replaced","worker":1,"pid":(\d+)/.exec(run.out())?.[1], { timeout: 60_000, interval: 200 }).toBeTruthy();
      const replacement = Number(/"msg":"worker replaced","worker":1,"pid":(\d+)/.exec(run.out())![1]);
      expect(replacement).not.toBe(victim);
      expect(alive(replacement) && alive(survivor) && !alive(victim)).toBe(true);
      // The replacement serves: a fresh process, it counts only the connection it was handed.
      const first = await overOneConnection(url, 3);
      const second = await overOneConnection(url, 4);
      expect([...first, ...second].every((s) => s === 200)).toBe(true);
      answered += 7;
      const m = await scrape(url);
      expect(m.missing).toBe(0);
      // Slot 1's replacement counts one of the two connections, on top of what the killed worker had
      // counted (kept, so that no sum goes down: Prometheus would read that as a counter reset).
      const fresh = m.perWorker.get('1')! - victimBefore;
      expect([3, 4]).toContain(fresh);
      // Slot 2 kept its count: its connection of the first test, the 10 above and the other connection.
      expect(m.perWorker.get('2')).toBe(survivorBefore + 10 + (7 - fresh));
      expect(m.total).toBe(m.perWorker.get('1')! + m.perWorker.get('2')!);
      // Same slot, same directory: no third journal directory.
      expect(readdirSync(data()).sort()).toEqual(['worker-1', 'worker-2']);
      pids = [replacement, survivor];
      // Including whatever the killed worker had journaled but not yet stored (replayed by its replacement).
      await expect.poll(recorded, { timeout: 10_000 }).toBe(answered);
    }, 90_000);

    it('a worker that does not answer does not hold the scrape, which says so and keeps its last count, and is back once it answers', async () => {
      // One connection, so one worker: which one is read from its count going up by one.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const before = await scrape(url, agent);
        expect((await send(url, 'POST', '/v1/chat/completions', agent, hi)).status).toBe(200);
        answered++;
        const after = await scrape(url, agent);
        const [served] = [...after.perWorker].find(([w, n]) => n === before.perWorker.get(w)! + 1)!;
        const other = served === '1' ? '2' : '1';
        const stopped = pids[Number(other) - 1]!;
        process.kill(stopped, 'SIGSTOP');
        try {
          const m = await scrape(url, agent);
          expect(m.missing).toBe(1);
          // Its last answer stands in: the sums do not drop.
          expect(m.perWorker).toEqual(after.perWorker);
          expect(m.total).toBe(after.total);
        } finally {
          process.kill(stopped, 'SIGCONT');
        }
        // Its late answer to the scrape it missed is dropped; the next scrapes count it again.
        await expect.poll(async () => (await scrape(url, agent)).missing, { timeout: 10_000 }).toBe(0);
        const back = await scrape(url, agent);
        expect(back.perWorker).toEqual(after.perWorker);
        expect(back.total).toBe(after.total);
      } finally {
        agent.destroy();
      }
    }, 30_000);

    it('SIGTERM stops every worker cleanly, exit 0, with every answered request recorded', async () => {
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.out().match(/SIGTERM: finishing in-flight requests/g)).toHaveLength(1);
      expect(pids.some(alive)).toBe(false);
      expect(run.err()).toBe('');
      expect(await recorded()).toBe(answered);
    }, 30_000);
  });
});
