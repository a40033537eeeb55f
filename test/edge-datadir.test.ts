import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBanner } from '../src/cli/banner.js';
import { startHub } from '../src/server/start.js';
import type { RunningHub } from '../src/server/start.js';
import { SCHEMA_VERSION } from '../src/store/sqlite/index.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

/** One data directory, one hub; a directory a newer Baimo wrote is refused; its files are private. */
const ROOT = join(import.meta.dirname, '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
let upstream: OpenAIUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), 'baimo-edge-data-'));
  writeFileSync(join(dir, 'baimo.yaml'), 'providers:\n  loop:\n    baseURL: ${LOOP_URL}\n    models: [gpt-test]\n');
});

afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function start(dataDir: string): Promise<RunningHub> {
  return startHub({ config: join(dir, 'baimo.yaml'), port: '0', host: '127.0.0.1', dataDir, env: { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'silent', LOOP_URL: upstream.baseURL }, detectOllama: false });
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe('data files', () => {
  it('are created 0600 in a 0700 directory, whatever the umask', async () => {
    const data = join(dir, 'modes');
    // The usual umask (0022) would leave new files 0644 in a 0755 directory.
    let old: number | undefined;
    try {
      old = process.umask(0o022);
    } catch {
      // worker threads cannot set it; the process's own is used
    }
    const hub = await start(data);
    if (old !== undefined) process.umask(old);
    try {
      const res = await fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(res.status).toBe(200);
      await res.text();
      expect(mode(data)).toBe(0o700);
      for (const f of ['baimo.db', 'baimo.db-wal', 'baimo.db-shm', 'usage.journal', 'baimo.lock']) {
        expect({ f, mode: mode(join(data, f)).toString(8) }).toEqual({ f, mode: '600' });
      }
    } finally {
      await hub.close();
    }
    // Closing again (a test's cleanup after its own close) is a no-op, not an EBADF on the journal.
    await expect(hub.close()).resolves.toBeUndefined();
  });

  it('left world-readable by an older hub are tightened', async () => {
    const data = join(dir, 'old');
    mkdirSync(data, { mode: 0o755 });
    new Database(join(data, 'baimo.db')).close();
    const { chmodSync } = await import('node:fs');
    chmodSync(data, 0o755);
    chmodSync(join(data, 'baimo.db'), 0o644);
    const hub = await start(data);
    await hub.close();
    expect(mode(data)).toBe(0o700);
    expect(mode(join(data, 'baimo.db'))).toBe(0o600);
  });
});

describe('one data directory, one hub', () => {
  it('a second hub on the same directory refuses to start, naming the directory and the first hub\'s pid; once the first closes, a new one starts', async () => {
    const data = join(dir, 'shared');
    const first = await start(data);
    let second: RunningHub | undefined;
    try {
      const err = await start(data).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('DataDirError');
      expect((err as Error).message).toContain(`pid ${process.pid}`);
      expect((err as Error).message).toContain(data);
      // The first is untouched by the attempt.
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      expect(readFileSync(join(data, 'baimo.lock'), 'utf8').trim()).toBe(String(process.pid));
    } finally {
      await first.close();
    }
    expect(existsSync(join(data, 'baimo.lock'))).toBe(false);
    second = await start(data);
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    await second.close();
  });

  it('a lock left by a process that is gone is taken over', async () => {
    const data = join(dir, 'stale');
    mkdirSync(data);
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    writeFileSync(join(data, 'baimo.lock'), `${pid}\n`);
    const hub = await start(data);
    expect(readFileSync(join(data, 'baimo.lock'), 'utf8').trim()).toBe(String(process.pid));
    await hub.close();
    // A lock naming this very pid that this process does not hold (a container's pid 1 after a restart) is stale too.
    writeFileSync(join(data, 'baimo.lock'), `${process.pid}\n`);
    const again = await start(data);
    await again.close();
    // So is one whose pid now belongs to a process that is no hub (Linux tells by /proc).
    if (existsSync('/proc/self/cmdline')) {
      const sleeper = spawn('sleep', ['30']);
      try {
        writeFileSync(join(data, 'baimo.lock'), `${sleeper.pid}\n`);
        const third = await start(data);
        await third.close();
      } finally {
        sleeper.kill();
      }
    }
  });

  it('a directory whose schema is newer than this hub\'s is refused and left as it was', async () => {
    const data = join(dir, 'future');
    mkdirSync(data);
    const db = new Database(join(data, 'baimo.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const err = await start(data).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DataDirError');
    expect((err as Error).message).toContain(`schema version ${SCHEMA_VERSION + 1}, newer than this Baimo's (${SCHEMA_VERSION})`);
    const after = new Database(join(data, 'baimo.db'), { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect(after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get()).toEqual({ n: 0 });
    after.close();
    // The refused start left no lock behind.
    expect(existsSync(join(data, 'baimo.lock'))).toBe(false);
  });
});

describe('`baimo serve`', () => {
  function serve(data: string) {
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--data-dir', data], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, BAIMO_ADMIN_KEY: 'sk-edge-admin-0123456789', LOOP_URL: upstream.baseURL },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // The exit code, or the signal that ended the process (so a crash names itself in a failure).
    const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
    return { child, exited, out: () => out, err: () => err };
  }

  it('names the console URL; a second serve on the same directory exits 1 saying which hub holds it; after kill -9 a new one starts', async () => {
    const data = join(dir, 'cli');
    const first = serve(data);
    try {
      await expect.poll(() => first.out(), { timeout: 15_000 }).toContain('listening on');
      const url = /listening on (http:\S+)/.exec(first.out())![1]!;
      expect(first.out()).toMatch(new RegExp(`console: (http\\S+|not built .* then open ${url}/)`));
      const second = serve(data);
      expect(await second.exited).toBe(1);
      expect(second.err()).toContain(`Another Baimo hub (pid ${first.child.pid}) is using the data directory ${data}`);
      expect(second.err()).not.toContain('    at '); // a message, not a stack
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    const third = serve(data);
    try {
      await expect.poll(() => third.out() + third.err(), { timeout: 15_000 }).toContain('listening on');
    } finally {
      third.child.kill('SIGTERM');
      expect(await third.exited, third.err()).toBe(0);
    }
    expect(existsSync(join(data, 'baimo.lock'))).toBe(false);
  });

  it('banner: the console URL a browser can open, or how to build it', () => {
    const hub = { url: 'http://0.0.0.0:4000', configFile: undefined, store: { path: '/d/baimo.db' }, settings: { auth: 'required' }, generatedAdminKey: undefined, providers: [] } as never;
    expect(startBanner(hub, '1.0.0', true)).toContain('console: http://127.0.0.1:4000/');
    expect(startBanner(hub, '1.0.0', false)).toContain('console: not built — run `npm run build:web`');
  });
});
