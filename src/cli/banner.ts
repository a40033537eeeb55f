import type { RunningHub } from '../server/start.js';
import { consoleBuilt } from '../server/static.js';

/** The URL a browser on this machine can open: a wildcard listen address is not one. */
export function browserURL(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  return u.href;
}

/** What `baimo serve` prints once it listens. */
export function startBanner(hub: Pick<RunningHub, 'url' | 'configFile' | 'store' | 'settings' | 'generatedAdminKey' | 'providers'>, version: string, built = consoleBuilt()): string {
  const lines: string[] = [];
  lines.push(`Baimo ${version} listening on ${hub.url}`);
  lines.push(
    built
      ? `  console: ${browserURL(hub.url)}  (open it in a browser)`
      : `  console: not built — run \`npm run build:web\`, then open ${browserURL(hub.url)}`,
  );
  lines.push(`  config:  ${hub.configFile ?? '(none — zero config)'}`);
  if (hub.store.kind === 'sqlite') lines.push(`  data:    ${hub.store.path}`);
  else lines.push(`  data:    ${hub.store.url} (shared; this replica's journal in ${hub.settings.dataDir})`);
  lines.push(`  auth:    ${hub.settings.auth === 'required' ? 'keys required (admin key or a virtual key)' : 'none — anyone who can reach this port can use it'}`);
  let out = `${lines.join('\n')}\n`;
  if (hub.generatedAdminKey) {
    out += `\n  Admin key (shown once, stored only as a hash — keep it safe):\n\n    ${hub.generatedAdminKey}\n\n`;
    out += '  Use it as the API key of any client, or create virtual keys with POST /admin/keys.\n\n';
  }
  if (hub.providers.length === 0) {
    out += '  providers: none enabled yet. Set a key such as OPENAI_API_KEY or DEEPSEEK_API_KEY, or write baimo.yaml.\n';
  } else {
    out += '  providers:\n';
    for (const p of hub.providers) out += `    ${p.id.padEnd(12)} ${p.baseURL}${p.source === 'detected' ? '  (detected)' : ''}\n`;
  }
  return out;
}
