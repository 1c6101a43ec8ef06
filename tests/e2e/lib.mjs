// Shared plumbing of the browser tests (test_*.mjs): the binary on a free
// port with a temporary data directory, Debian's Chromium through
// playwright-core, steps with a screenshot each, and small helpers.
// Environment: POS_BIN, POS_WEB_ROOT (default web/dist), POS_CHROMIUM
// (default /usr/bin/chromium), POS_E2E_ARTIFACTS (default build/e2e-artifacts).
// A test exits 0 passed, 1 failed, 77 skipped (no build, binary or browser).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.resolve(process.env.POS_BIN || path.join(ROOT, 'build/personalos'));
export const WEB_ROOT = path.resolve(process.env.POS_WEB_ROOT || path.join(ROOT, 'web/dist'));
export const CHROMIUM = process.env.POS_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(process.env.POS_E2E_ARTIFACTS || path.join(ROOT, 'build/e2e-artifacts'));
export const PASSWORD = 'correct horse battery';
const STEP_TIMEOUT = 60_000;

export function skip(why) {
  console.log('SKIP: ' + why);
  process.exit(77);
}

// playwright-core's chromium, or a skip when something is missing.
export function preflight() {
  let chromium;
  try {
    ({ chromium } = createRequire(path.join(ROOT, 'web/package.json'))('playwright-core'));
  } catch {
    skip('playwright-core is not installed (run scripts/build-web or make test)');
  }
  if (!existsSync(path.join(WEB_ROOT, 'index.html'))) skip(`no web build in ${WEB_ROOT} (run scripts/build-web)`);
  if (!existsSync(BIN)) skip(`no binary at ${BIN}`);
  if (!existsSync(CHROMIUM)) skip(`no Chromium at ${CHROMIUM}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium;
}

export function launch(chromium) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
}

// ---- processes ----

const children = [];
const servers = [];
const tmpDirs = [];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The server, API and web app, on 127.0.0.1; registration stays open for
// the several accounts a test makes.
const fileRoots = new Map(); // base URL -> its sync_file_root

/* The folder of the user with `token` under the server's sync_file_root:
 * file sources name paths relative to it. */
export async function userFolder(base, token) {
  const me = (await call(base, 'GET', '/api/auth/me', undefined, token)).json;
  const dir = path.join(fileRoots.get(base), me.id);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function startServer(env = {}) {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'pos-e2e-'));
  tmpDirs.push(data);
  // File sync sources read beneath <sync_file_root>/<user id>/ (userFolder).
  fileRoots.set(`http://127.0.0.1:${port}`, path.join(data, 'files'));
  const inherited = { ...process.env };
  const p = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--web', WEB_ROOT], {
    env: { ...inherited, PERSONALOS_PWHASH_OPSLIMIT: '1', PERSONALOS_PWHASH_MEMLIMIT_KIB: '8192', PERSONALOS_LOG_REQUESTS: 'off',
      PERSONALOS_REGISTRATION: 'open', PERSONALOS_SYNC_FILE_ROOT: path.join(data, 'files'), ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(p);
  servers.push(p);
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error('server exited with ' + p.exitCode);
    try {
      if ((await fetch(base + '/health')).ok) return base;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error('server did not answer /health');
}

// A temporary directory removed when the test ends.
export function tempDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), 'pos-e2e-'));
  tmpDirs.push(d);
  return d;
}

export function cleanup() {
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);

// ---- helpers ----

export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

export async function waitUntil(fn, what, ms = 15_000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : last})`);
}

export async function call(base, method, p, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, headers: r.headers, text };
}

// An account made through the API: {email, token, id}.
export async function account(base, name) {
  const email = `${name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const r = await call(base, 'POST', '/api/auth/register', { email, password: PASSWORD });
  assert(r.status === 201 || r.status === 200, 'registered ' + email + ': ' + r.status + ' ' + r.text.slice(0, 200));
  return { email, token: r.json.access_token, id: r.json.user && r.json.user.id };
}

export async function login(page, email, password = PASSWORD) {
  await page.goto('/login');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('capture-input').waitFor();
}

export const session = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('pos.session') || 'null'));

export async function noHorizontalOverflow(page) {
  const o = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: window.innerWidth }));
  assert(o.sw <= o.w + 1, `page is ${o.sw}px wide in a ${o.w}px viewport`);
}

export const memoryItem = (page, text) => page.getByTestId('memory-item').filter({ hasText: text });

// How many of the account's memories match a phrase (keyword search).
export async function countPhrase(base, token, phrase) {
  const r = await call(base, 'GET', '/api/memories/search?query=' + encodeURIComponent('"' + phrase + '"'), undefined, token);
  assert(r.status === 200, 'search answered ' + r.status + ' ' + r.text.slice(0, 200));
  return r.json.total;
}

// ---- steps ----

export function runner(prefix) {
  const results = [];
  let shot = 0;
  const step = async (name, page, fn, ms = STEP_TIMEOUT) => {
    const t0 = Date.now();
    const safe = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 80);
    try {
      await Promise.race([fn(), sleep(ms).then(() => { throw new Error('step timed out'); })]);
      results.push({ name, ok: true });
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ name, ok: false, error: e });
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
    if (page && !page.isClosed()) {
      const file = path.join(ARTIFACTS, `${prefix}-${String(++shot).padStart(2, '0')}-${safe}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    }
  };
  const skipStep = (name, why) => {
    console.log(`SKIP ${name}: ${why}`);
    results.push({ name, ok: true, skipped: why });
  };
  // Stops the servers (a clean exit is a step too) and gives the exit code.
  const finish = async () => {
    for (const p of servers) {
      const code = await new Promise((resolve) => {
        if (p.exitCode !== null) return resolve(p.exitCode);
        p.once('exit', (c, sig) => resolve(c === null ? sig : c));
        p.kill('SIGTERM');
      });
      results.push({ name: 'server stops cleanly', ok: code === 0, error: 'exit ' + code });
      console.log(`${code === 0 ? 'ok  ' : 'FAIL'} server stops cleanly (exit ${code})`);
    }
    const failed = results.filter((r) => !r.ok);
    console.log(`\n${results.length - failed.length}/${results.length} steps passed; screenshots in ${ARTIFACTS}`);
    for (const f of failed) console.log('failed: ' + f.name);
    return failed.length ? 1 : 0;
  };
  return { step, skipStep, finish, results };
}

// main().then(exit): the one way a test file ends.
export function run(main) {
  main().then((code) => {
    cleanup();
    process.exit(code);
  }, (e) => {
    console.error(e);
    cleanup();
    process.exit(1);
  });
}
