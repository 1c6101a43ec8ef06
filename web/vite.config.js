// Vite build of the PersonalOS web app. JSX is compiled by Vite's own
// esbuild for Preact (no Babel plugin); the service worker is generated at
// the end of the build with the exact list of files to precache.
import { defineConfig } from 'vite';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const PUBLIC_FILES = ['/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png'];

function serviceWorker() {
  return {
    name: 'pos-service-worker',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      // The password-strength dictionaries (~800 KB gzip, only on the
      // register page) are fetched when needed, not precached.
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map') && !/(^|\/)strength-/.test(f)).map((f) => '/' + f);
      const list = [...files, ...PUBLIC_FILES].sort();
      const version = createHash('sha256').update(list.join('\n')).digest('hex').slice(0, 12);
      const src = readFileSync(new URL('./src/sw.js', import.meta.url), 'utf8')
        .replace('self.__POS_PRECACHE__', JSON.stringify(list))
        .replace('self.__POS_VERSION__', JSON.stringify(version));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: src });
    },
  };
}

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  plugins: [serviceWorker()],
  build: {
    target: 'es2020',
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 2000, // the lazy strength chunk; the first load is ~55 KB gzip
  },
  server: {
    // `npm run dev`: the API of a server started with `make run`.
    proxy: { '/api': 'http://127.0.0.1:8420', '/health': 'http://127.0.0.1:8420' },
  },
});
