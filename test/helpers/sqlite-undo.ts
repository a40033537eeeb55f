/**
 * Takes an embedded database back to the schema version before `MIGRATIONS[index]`, for tests
 * of an upgrade from that version with data written by today's code. Only additive migrations
 * can be undone (CREATE TABLE / INDEX, ALTER TABLE … ADD COLUMN): anything else throws, so a test
 * built on this says so instead of testing a schema that never existed.
 */
import type Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';

export function undoMigrationsFrom(db: Database.Database, index: number): void {
  for (let i = MIGRATIONS.length - 1; i >= index; i--) {
    const sql = MIGRATIONS[i]!.replace(/--[^\n]*/g, '');
    const statements = sql.split(';').map((s) => s.trim()).filter(Boolean);
    const undo: string[] = [];
    for (const st of statements) {
      let m: RegExpExecArray | null;
      if ((m = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(\w+)/i.exec(st))) undo.unshift(`DROP INDEX IF EXISTS ${m[1]}`);
      else if ((m = /^CREATE\s+(?:VIRTUAL\s+)?TABLE\s+(\w+)/i.exec(st))) undo.push(`DROP TABLE IF EXISTS ${m[1]}`);
      else if ((m = /^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)/i.exec(st))) undo.push(`ALTER TABLE ${m[1]} DROP COLUMN ${m[2]}`);
      else throw new Error(`migration ${i + 1} is not additive, it cannot be undone: ${st.slice(0, 80)}`);
    }
    // Indexes first (a column that is indexed cannot be dropped), then tables and columns.
    for (const u of undo) db.exec(u);
  }
  db.pragma(`user_version = ${index}`);
}

/** The index of the migration whose SQL contains `marker`. */
export function migrationIndex(marker: string): number {
  const i = MIGRATIONS.findIndex((m) => m.includes(marker));
  if (i === -1) throw new Error(`no migration contains ${marker}`);
  return i;
}
