import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script run by its SHA: the body crosses the wire once per Redis server (SCRIPT LOAD on
 * the first NOSCRIPT, e.g. after a restart or a failover), never with every request.
 */
export class Script {
  readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Its Lua source (for measuring: bench/redis-turn.ts). */
  get source(): string {
    return this.lua;
  }

  /** Loads it ahead of the first call (at start), so the first requests need no second round trip. */
  async load(redis: Redis): Promise<void> {
    await redis.script('LOAD', this.lua);
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      await redis.script('LOAD', this.lua);
      return redis.evalsha(this.sha, keys.length, ...keys, ...args);
    }
  }
}
