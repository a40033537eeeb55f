/**
 * Finds the real coding-agent CLIs that `npm install` put in node_modules, without downloading
 * anything: both ship their native executable inside a per-platform npm package that the main
 * package lists as an optional dependency.
 *
 * - Claude Code (`@anthropic-ai/claude-code`): `@anthropic-ai/claude-code-<os>-<arch>[-musl]/claude`
 *   (the main package's postinstall copies it over `bin/claude.exe`; we do not rely on that
 *   script having run). The native binary needs no Node.js, so the package's `engines`
 *   (Node >= 22) does not matter on the Node 20 the hub runs on.
 * - Codex CLI (`@openai/codex`): `@openai/codex-<os>-<arch>/vendor/<target triple>/bin/codex`
 *   (an npm alias of `@openai/codex@<version>-<os>-<arch>`), the same lookup `bin/codex.js` does.
 *
 * `BAIMO_CLAUDE_CODE_BIN` / `BAIMO_CODEX_BIN` point at an executable elsewhere instead.
 * Each locator also runs `--version`, so a binary that cannot start here is reported as such.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Located = { ok: true; path: string; version: string } | { ok: false; reason: string };

/**
 * Where the agent CLIs are installed: the repo's own node_modules, or BAIMO_AGENTS_DIR (a
 * directory holding a node_modules with them — how CI installs them, apart from the project's
 * dependencies, since together they weigh about 750 MB).
 */
const here = process.env.BAIMO_AGENTS_DIR ?? dirname(fileURLToPath(import.meta.url));

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

/** Resolves `<pkg>/package.json` from `fromDir`; the package's folder, or undefined. */
function packageDir(pkg: string, fromDir: string): string | undefined {
  try {
    return dirname(createRequire(join(fromDir, 'noop.js')).resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

function probe(path: string, what: string): Located {
  if (!existsSync(path)) return { ok: false, reason: `${what}: ${path} does not exist` };
  const run = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
  if (run.error) return { ok: false, reason: `${what}: ${path} --version failed: ${run.error.message}` };
  if (run.status !== 0) return { ok: false, reason: `${what}: ${path} --version exited ${run.status}: ${(run.stderr || run.stdout).trim().slice(0, 500)}` };
  return { ok: true, path, version: run.stdout.trim() };
}

export function locateClaudeCode(fromDir = here): Located {
  const override = process.env.BAIMO_CLAUDE_CODE_BIN;
  if (override) return probe(override, 'BAIMO_CLAUDE_CODE_BIN');
  const main = packageDir('@anthropic-ai/claude-code', fromDir);
  if (!main) return { ok: false, reason: '@anthropic-ai/claude-code is not installed (install it in the project or in BAIMO_AGENTS_DIR, as .ci/run does)' };
  const platform = `${process.platform}-${process.arch}${isMusl() ? '-musl' : ''}`;
  const nativePkg = `@anthropic-ai/claude-code-${platform}`;
  const native = packageDir(nativePkg, main);
  const exe = process.platform === 'win32' ? 'claude.exe' : 'claude';
  if (native) return probe(join(native, exe), nativePkg);
  // Older releases had no platform packages; the postinstall may also have put the binary in place.
  const copied = join(main, 'bin', 'claude.exe');
  if (existsSync(copied) && statSync(copied).size > 1_000_000) return probe(copied, '@anthropic-ai/claude-code');
  return { ok: false, reason: `${nativePkg} (the optional dependency holding Claude Code's native binary for ${platform}) is not installed` };
}

const CODEX_TRIPLES: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64': 'x86_64-pc-windows-msvc',
  'win32-arm64': 'aarch64-pc-windows-msvc',
};

export function locateCodex(fromDir = here): Located {
  const override = process.env.BAIMO_CODEX_BIN;
  if (override) return probe(override, 'BAIMO_CODEX_BIN');
  const main = packageDir('@openai/codex', fromDir);
  if (!main) return { ok: false, reason: '@openai/codex is not installed (install it in the project or in BAIMO_AGENTS_DIR, as .ci/run does)' };
  const platform = `${process.platform}-${process.arch}`;
  const triple = CODEX_TRIPLES[platform];
  if (!triple) return { ok: false, reason: `@openai/codex ships no binary for ${platform}` };
  const nativePkg = `@openai/codex-${platform}`;
  const vendor = packageDir(nativePkg, main) ?? main; // very old releases vendored every binary in the main package
  const exe = join(vendor, 'vendor', triple, 'bin', process.platform === 'win32' ? 'codex.exe' : 'codex');
  if (!existsSync(exe)) return { ok: false, reason: `${nativePkg} (the optional dependency holding Codex's native binary) is not installed: no ${exe}` };
  return probe(exe, nativePkg);
}

/**
 * What a test file does with a locator's answer: a missing CLI skips its tests with the reason
 * printed (and in the test's name), unless BAIMO_REQUIRE_AGENTS=1, when it fails them instead.
 */
export function skipReason(name: string, located: Located): string | undefined {
  if (located.ok) return undefined;
  const reason = `${name} not runnable here: ${located.reason}`;
  if (process.env.BAIMO_REQUIRE_AGENTS === '1') return undefined; // the test runs and fails on the missing binary
  console.warn(`[test/agents] skipping ${name} end-to-end tests — ${reason}`);
  return reason;
}
