// Web app benchmark (issue 5): first-load size, time to interactive on
// localhost, and how soon search results follow the last keystroke with a
// large store. Drives Debian's Chromium with playwright-core (web/node_modules)
// against the real binary serving web/dist.
//
//   node bench/web_bench.mjs [--bin build-release/personalos] [--size 100000]
//        [--runs 20] [--queries 40] [--keydelay 40] [--json out.json]
//
// Figures (median and p99 of the runs, with a baseline measured in the
// same run and the ratio):
//   first load   JS+CSS the login page loads, gzip bytes on the wire
//                (resource timing), against the 200 KB target;
//   TTI          navigation start -> the login form in the DOM (the app's
//                JS fetched, parsed, run and rendered), cold cache, fresh
//                browser context per run; baseline: navigation start ->
//                response end of a static file (/icon.svg) in the same way;
//   timeline     signed in, navigation start -> first memory shown;
//   search       last keystroke (typed at 40 ms a key, earlier requests
//                cancelled) -> the result list for the full query in the
//                DOM; baseline: a search API call of the same kind (other
//                words, so no result-cache hits either way) fetched from the
//                page (request + JSON parse), no UI.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const BIN = path.resolve(args.bin || path.join(ROOT, 'build/personalos'));
const SIZE = Number(args.size || 100000);
const RUNS = Number(args.runs || 20);
const QUERIES = Number(args.queries || 40);
const KEY_DELAY = Number(args.keydelay || 40); // ms between keystrokes
const WEB_ROOT = path.join(ROOT, 'web/dist');
const { chromium } = createRequire(path.join(ROOT, 'web/package.json'))('playwright-core');
if (!existsSync(path.join(WEB_ROOT, 'index.html'))) throw new Error('no web build: run scripts/build-web');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

// ---- deterministic corpus ----
let seed = 20261124;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const WORDS = ('meeting lunch dentist invoice garden bicycle passport recipe pancakes budget conference flight hotel ' +
  'library novel museum concert birthday anniversary groceries laundry plumber insurance mortgage tax doctor ' +
  'pharmacy vitamins running marathon yoga climbing kayak camping tent lantern coffee espresso bakery croissant ' +
  'project deadline review release roadmap sprint backlog database migration server latency cache kernel ' +
  'python rust golang compiler debugger terminal keyboard monitor laptop charger battery router printer ' +
  'grandmother uncle cousin neighbour colleague manager teacher student friend sister brother daughter son ' +
  'berlin lisbon kyoto oslo toronto nairobi lima sydney vienna prague dublin seattle denver austin boston ' +
  'piano guitar violin painting pottery photography gardening cooking baking knitting chess poetry history').split(' ');
const NAMES = 'Alice Bob Carla Deniz Emeka Fatima Goran Hana Ivan Julia Kenji Laila Mateo Nora Omar Priya'.split(' ');
function memoryText() {
  const n = 10 + Math.floor(rnd() * 20);
  const w = [];
  for (let i = 0; i < n; i++) w.push(i % 7 === 3 ? pick(NAMES) : pick(WORDS));
  return w.join(' ') + '.';
}

// ---- server ----
function freePort() {
  return new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function call(base, method, p, body, token) {
  const h = { 'Content-Type': 'application/json' };
  if (token) h.Authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers: h, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

const q = (s, p) => {
  const a = [...s].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)];
};
const stats = (s) => ({ median: q(s, 50), p99: q(s, 99), n: s.length });
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

async function main() {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'pos-webbench-'));
  const srv = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--web', WEB_ROOT],
    { env: { ...process.env, PERSONALOS_LOG_REQUESTS: 'off' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 100; i++) {
      try { if ((await fetch(base + '/health')).ok) break; } catch { /* not yet */ }
      await sleep(100);
    }
    const email = `bench-${Date.now()}@example.com`;
    const reg = await call(base, 'POST', '/api/auth/register', { email, password: 'correct horse battery' });
    const token = reg.access_token;
    log(`web_bench: seeding ${SIZE} memories…`);
    const t0 = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < SIZE) {
        const n = Math.min(1000, SIZE - next);
        next += n;
        const memories = Array.from({ length: n }, () => ({ content: memoryText(), tags: [pick(WORDS)] }));
        await call(base, 'POST', '/api/memories/bulk', { memories }, token);
      }
    };
    await Promise.all([worker(), worker()]);
    log(`web_bench: seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const browser = await chromium.launch({ executablePath: process.env.POS_CHROMIUM || '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-background-networking'] });
    const R = { size: SIZE, runs: RUNS };

    // First load and TTI, cold, fresh context each run.
    const tti = [], base_nav = [], bytes = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const ctx = await browser.newContext({ serviceWorkers: 'block' });
      const page = await ctx.newPage();
      await page.addInitScript(() => {
        new MutationObserver((_, obs) => {
          if (document.querySelector('[data-testid=login-email]')) {
            window.__tti = performance.now();
            obs.disconnect();
          }
        }).observe(document, { childList: true, subtree: true });
      });
      await page.goto(base + '/login');
      await page.waitForFunction(() => window.__tti);
      const r = await page.evaluate(() => ({
        tti: window.__tti,
        bytes: performance.getEntriesByType('resource').filter((e) => /\.(js|css)$/.test(e.name)).reduce((a, e) => a + e.transferSize, 0),
        encoded: performance.getEntriesByType('resource').filter((e) => /\.(js|css)$/.test(e.name)).reduce((a, e) => a + e.encodedBodySize, 0),
      }));
      const p2 = await ctx.newPage();
      await p2.goto(base + '/icon.svg');
      const b = await p2.evaluate(() => performance.getEntriesByType('navigation')[0].responseEnd);
      await ctx.close();
      if (i < 2) continue; // warm-up: the browser process, the server's page cache
      tti.push(r.tti);
      base_nav.push(b);
      bytes.push(r.encoded);
    }
    R.first_load_bytes = bytes[0];
    R.tti = stats(tti);
    R.static_nav = stats(base_nav);

    // Signed in: the timeline, then search as you type.
    const ctx = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1200, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(base + '/login');
    await page.evaluate((s) => localStorage.setItem('pos.session', JSON.stringify(s)),
      { access_token: token, refresh_token: reg.refresh_token, expires_at: Date.now() + 800_000, user: reg.user });
    const timeline = [];
    for (let i = 0; i < Math.min(RUNS, 10) + 1; i++) {
      await page.goto(base + '/');
      await page.getByTestId('memory-item').first().waitFor();
      const t = await page.evaluate(() => performance.now());
      if (i) timeline.push(t);
    }
    R.timeline = stats(timeline);

    // Typed queries use every third word; the API baseline asks the same
    // kind of query with other words, so neither side meets the server's
    // result cache warmed by the other.
    const mk = (off) => {
      const words = WORDS.filter((_, i) => i % 3 === off);
      const out = [];
      for (let i = 0; i < QUERIES; i++) out.push(i % 4 === 3 ? `${words[i % words.length]} ${pick(NAMES).toLowerCase()}` : words[(i * 7) % words.length]);
      return out;
    };
    // Warm-up: the server loads the user's vectors on the first search.
    await call(base, 'GET', '/api/memories/search?query=warmup', undefined, token);
    const queries = mk(0);
    const baseQueries = mk(1);
    await page.addInitScript(() => {
      window.addEventListener('keydown', () => { window.__lastKey = performance.now(); }, true);
      // When each query's results reached the DOM (Preact's layout effects,
      // which render the Markdown, have run by the time observers are told).
      window.__shown = {};
      const seen = () => {
        const s = document.querySelector('section[data-query]');
        const v = s && s.getAttribute('data-query');
        if (v && !(v in window.__shown)) window.__shown[v] = performance.now();
      };
      document.addEventListener('DOMContentLoaded', () => new MutationObserver(seen)
        .observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-query'] }));
    });
    await page.goto(base + '/');
    await page.getByTestId('capture-input').waitFor();
    const ui = [], apiT = [], totals = [], tookUi = [];
    for (const [qi, query] of queries.entries()) {
      await page.getByTestId('search-input').fill('');
      await page.goto(base + '/');
      await page.getByTestId('capture-input').waitFor();
      await page.getByTestId('search-input').click();
      for (const ch of query) {
        await page.keyboard.press(ch === ' ' ? 'Space' : ch);
        await sleep(KEY_DELAY);
      }
      const t = await page.evaluate((qq) => new Promise((resolve) => {
        const poll = () => (qq in window.__shown ? resolve({ dt: window.__shown[qq] - window.__lastKey }) : setTimeout(poll, 5));
        poll();
      }), query);
      ui.push(t.dt);
      const took = await page.locator('main p.muted[aria-live]').textContent().catch(() => '');
      const m = took.match(/· ([\d.]+) ms/);
      tookUi.push(m ? Number(m[1]) : NaN);
      const a = await page.evaluate(async ({ qq, tok }) => {
        const t0 = performance.now();
        const r = await fetch('/api/memories/search?limit=30&query=' + encodeURIComponent(qq), { headers: { Authorization: 'Bearer ' + tok } });
        const j = await r.json();
        return { dt: performance.now() - t0, total: j.total };
      }, { qq: baseQueries[qi], tok: token });
      apiT.push(a.dt);
      totals.push(a.total);
    }
    R.search_ui = stats(ui);
    R.search_api = stats(apiT);
    R.search_server_took_ms = stats(tookUi.filter((x) => !isNaN(x)));
    R.raw = { search_ui: ui, search_api: apiT, search_server_took_ms: tookUi, queries };
    R.search_results_median = q(totals, 50);
    await browser.close();

    const lines = [
      `web_bench: ${SIZE} memories, ${RUNS} cold loads, ${QUERIES} typed queries`,
      `first load JS+CSS (gzip, on the wire): ${(R.first_load_bytes / 1024).toFixed(1)} KB (target <= 200 KB)`,
      `TTI, login page: median ${fmt(R.tti.median)} ms, p99 ${fmt(R.tti.p99)} ms; static file navigation: median ${fmt(R.static_nav.median)} ms, p99 ${fmt(R.static_nav.p99)} ms; ratio ${(R.tti.median / R.static_nav.median).toFixed(2)}x (target <= 1000 ms)`,
      `timeline, signed in, first memory shown: median ${fmt(R.timeline.median)} ms, p99 ${fmt(R.timeline.p99)} ms`,
      `search, server took_ms of the UI's final request: median ${fmt(R.search_server_took_ms.median)} ms, p99 ${fmt(R.search_server_took_ms.p99)} ms`,
      `search, last keystroke -> results in the DOM: median ${fmt(R.search_ui.median)} ms, p99 ${fmt(R.search_ui.p99)} ms; API alone from the page: median ${fmt(R.search_api.median)} ms, p99 ${fmt(R.search_api.p99)} ms; ratio ${(R.search_ui.median / R.search_api.median).toFixed(2)}x (target <= 100 ms); median results per query ${R.search_results_median}`,
    ];
    console.log(lines.join('\n'));
    if (args.json) writeFileSync(args.json, JSON.stringify(R, null, 2));
  } finally {
    srv.kill('SIGTERM');
    await new Promise((r) => srv.once('exit', r));
    rmSync(data, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
