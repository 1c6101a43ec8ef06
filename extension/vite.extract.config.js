// dist/extract.js: the page-reading script (Readability), one IIFE with no
// imports, injected with chrome.scripting.executeScript.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'chrome116',
    lib: { entry: resolve(__dirname, 'src/extract.js'), name: 'posExtract', formats: ['iife'], fileName: () => 'extract.js' },
  },
});
