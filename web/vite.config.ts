import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The console is a static single-page app: `vite build --config web/vite.config.ts` writes
 * web/dist/, which the hub serves at `/`. Relative asset URLs (`base: './'`) keep it working
 * behind a reverse proxy under any path prefix. Nothing is fetched from the network at run time.
 */
export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev:web` with a hub on :4000: API calls go to the hub.
    proxy: Object.fromEntries(['/v1', '/admin', '/healthz'].map((p) => [p, { target: process.env.BAIMO_URL ?? 'http://127.0.0.1:4000', changeOrigin: false }])),
  },
});
