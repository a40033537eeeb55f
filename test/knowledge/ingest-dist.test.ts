import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
const out = mkdtempSync(join(tmpdir(), 'baimo-ingest-dist-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/**
 * The ingest pool as compiled JavaScript, laid out as `dist/` is: its thread is then started from
 * `pool-thread.js` next to it, not through tsx. Each source file the pool reaches is transpiled
 * on its own (what tsc emits for it), so the test takes a moment instead of a whole build.
 */
function emit(entry: string): void {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) todo.push(resolve(dirname(file), `${m[1]}.ts`));
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    }).outputText;
    const target = join(out, 'dist', relative(SRC, file).replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
}

describe('the ingest pool from compiled output', () => {
  it('starts its thread from pool-thread.js and prepares files there', async () => {
    emit(join(SRC, 'knowledge/ingest/pool.ts'));
    emit(join(SRC, 'knowledge/ingest/pool-thread.ts'));
    writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
    const script = `
      import { readFileSync } from 'node:fs';
      import { IngestPool } from './dist/knowledge/ingest/pool.js';
      const pool = new IngestPool();
      const opts = { maxTokens: 800, overlapTokens: 400, contextualHeaders: true };
      const r = await pool.prepare(new Uint8Array(readFileSync(${JSON.stringify(join(ROOT, 'test/fixtures/knowledge/manual-zh.pdf'))})), 'm.pdf', opts);
      const e = await pool.prepare(new Uint8Array(0), 'e.txt', opts).catch((err) => err);
      console.log(JSON.stringify({ title: r.title, headers: r.chunks.map((c) => c.header), error: [e.name, e.code, e.message] }));
      // No close(): an idle thread must not keep the process alive.
    `;
    writeFileSync(join(out, 'check.mjs'), script);
    const { stdout } = await promisify(execFile)(process.execPath, ['check.mjs'], { cwd: out, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({
      title: '百模部署手册',
      headers: ['百模部署手册 › 安装', '百模部署手册 › 配置', '百模部署手册 › Troubleshooting'],
      error: ['ExtractError', 'invalid_file', '"e.txt" is empty'],
    });
  });
});
