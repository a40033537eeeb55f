/**
 * An in-process PostgreSQL with pgvector for tests: PGlite (PostgreSQL compiled to WebAssembly)
 * with its pgvector extension, served over the PostgreSQL wire protocol by pglite-socket on a
 * loopback port, so the code under test talks to it through the same `pg` Pool and SQL as to a
 * real server. This machine's PostgreSQL has no pgvector package; this is how the vector path is
 * exercised.
 *
 * PGlite is one backend, one session. pglite-socket multiplexes several client connections onto
 * it (`maxConnections`), but it queues protocol messages one by one: only an open transaction
 * keeps another connection's messages out, so two connections' extended-protocol exchanges
 * (Parse/Bind/Execute/Sync, outside a transaction) can interleave, and every connection shares
 * one session's settings and locks. So the server accepts one connection and the pool under test
 * must hold at most one (`poolSize: 1`): a second would be refused ("Too many connections").
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface PGliteServer {
  /** A connection URL for `pg` (any user and database name are accepted). */
  readonly url: string;
  readonly db: PGlite;
  /** Stops listening and closes the database. */
  close(): Promise<void>;
}

export async function startPGlite(): Promise<PGliteServer> {
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    db,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
