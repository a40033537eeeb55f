/**
 * A PostgreSQL cluster of a test's own, for tests that stop and start the database (an outage):
 * the machine's server on 5432 is shared by every test file and must never go down. initdb into
 * a temporary directory, then pg_ctl on a free loopback port, with its socket in that directory.
 *
 * PostgreSQL refuses to run as root; as root, its commands run as the `postgres` user, which owns
 * the directory. Commands run asynchronously: the test's own hubs keep serving meanwhile.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PgCluster {
  /** e.g. postgres://postgres@127.0.0.1:41234/postgres (trust auth). */
  readonly url: string;
  readonly port: number;
  /** Starts the server on its data (again), waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server as an administrator does (`pg_ctl stop -m fast`): connections are cut. */
  stop(): Promise<void>;
  /** Stops and starts it again, keeping its data. */
  restart(): Promise<void>;
  /** Stops it if running and removes its directory. */
  destroy(): Promise<void>;
}

/** PostgreSQL's server binaries: BAIMO_TEST_PG_BIN, or Debian's /usr/lib/postgresql/<newest>/bin. */
function binDir(): string {
  const given = process.env.BAIMO_TEST_PG_BIN;
  if (given) return given;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL server binaries under ${root}: set BAIMO_TEST_PG_BIN to the directory holding initdb and pg_ctl`);
  return join(root, newest, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Makes a new cluster and starts it. */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'baimo-pgcluster-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  /** Runs one of PostgreSQL's programs, as `postgres` when this process is root. */
  const pg = async (program: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
    try {
      await run(file, argv, { timeout: 60_000 });
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`${program} ${args.join(' ')} failed: ${(err as Error).message}\n${tail}`);
    }
  };
  const port = await freePort();
  let running = false;
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      // Durability is not what these tests are about: no fsync keeps a stop and start quick.
      await pg('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`, 'start']);
      running = true;
    },
    async stop() {
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    async restart() {
      await cluster.stop();
      await cluster.start();
    },
    async destroy() {
      try {
        if (running) await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        running = false;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return cluster;
}
