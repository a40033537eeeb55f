/**
 * The console's browser tests share this: Debian's Chromium driven by playwright-core (nothing
 * downloads), one persistent profile per suite, page errors collected, screenshots into
 * test-results/console/, and signing in with a key through the console's own form.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
export const SHOTS = join(fileURLToPath(new URL('../../', import.meta.url)), 'test-results', 'console');

/** Says why a browser suite is skipped, where there is no Chromium. */
export function warnWithoutChromium(suite: string): void {
  if (!HAS_CHROMIUM) console.warn(`[${suite} e2e] SKIPPED: ${CHROMIUM} not found. Install Debian's browser with \`apt-get install -y chromium\` to run the browser tests.`);
}

export interface ConsoleBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** A full-page screenshot from the top (the header is sticky) as test-results/console/<prefix><name>.png. */
  shot(name: string): Promise<void>;
  /** Signs in through the console's form, by keyboard (Enter submits it). */
  signIn(key: string): Promise<void>;
  /** Opens the page at `hash` and says by how many pixels it is wider than the viewport (naming what sticks out, when it is). */
  overflowAt(hash: string): Promise<number>;
  close(): Promise<void>;
}

export async function openConsoleBrowser(o: { pageErrors: string[]; shotPrefix?: string }): Promise<ConsoleBrowser> {
  mkdirSync(SHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'baimo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => o.pageErrors.push(e.message));
  return {
    context,
    page,
    async shot(name) {
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(SHOTS, `${o.shotPrefix ?? ''}${name}.png`), fullPage: true });
    },
    async signIn(key) {
      const input = page.getByLabel('API key');
      await input.fill(key);
      await input.press('Enter');
    },
    async overflowAt(hash) {
      await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
      await page.locator('main h1').first().waitFor();
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      if (overflow > 0) {
        const width = page.viewportSize()?.width ?? 0;
        console.log(await page.evaluate(`[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > ${width + 1}).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('\\n')`));
      }
      return overflow;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
