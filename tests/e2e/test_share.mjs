// The PWA share target of the web app (docs/WEB.md, "Share target"): the
// manifest declares share_target POST /share multipart/form-data with
// files; the service worker keeps what was shared (Cache Storage) and
// answers 303 to the share page, which shows the files and the server's
// upload limit and uploads them (POST /api/files); text alone is saved at
// once; a share made signed out waits until sign-in; the old
// GET /share?title&text&url still works. The share is simulated by POSTing
// multipart (fetch with FormData) from a page the service worker controls,
// as the browser does when the user shares to the installed app.
// playwright-core (web/node_modules) drives Debian's Chromium against the
// real binary.
//
//   POS_BIN=build/personalos node tests/e2e/test_share.mjs
//
// Exit status: 0 passed, 1 failed, 77 skipped (no web build, browser or binary).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, PASSWORD, ROOT, account, assert, call, countPhrase, launch, preflight, run, runner, startServer, waitUntil } from './lib.mjs';

const FILE_MAX = 64 * 1024;
const sample = (name) => readFileSync(path.join(ROOT, 'tests/data/files', name)).toString('base64');

// Signs a page in through localStorage (no login form).
async function signIn(page, base, reg) {
  await page.goto(base + '/login');
  await page.evaluate((a) => {
    localStorage.setItem('pos.session', JSON.stringify({ access_token: a.access_token, refresh_token: a.refresh_token, expires_at: Date.now() + 600000, user: a.user }));
  }, reg);
}

// Waits until the service worker controls the page (a reload after its
// first install), as it does an installed app.
async function controlled(page, base) {
  await page.goto(base + '/');
  await page.evaluate(() => navigator.serviceWorker.ready);
  if (!(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)))) await page.reload();
  await waitUntil(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller)), 'the service worker controls the page');
}

// What the browser does for a share: POST /share multipart/form-data.
// files: [{name, type, b64}] or [{name, type, bytes}] (zeros). Returns
// {status, url, redirected: sent on to the share page's inbox}.
function share(page, fields, files = []) {
  return page.evaluate(async ({ fields, files }) => {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    for (const f of files) {
      const data = f.b64 ? Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0)) : new Uint8Array(f.bytes);
      fd.append('files', new File([data], f.name, { type: f.type }));
    }
    const r = await fetch('/share', { method: 'POST', body: fd });
    // the 303 was followed (to the page's URL: the fetch itself is not a
    // navigation, so what answers the GET does not matter here)
    return { status: r.status, url: r.url, redirected: /\/share\?inbox=[a-z0-9-]+$/.test(r.url) };
  }, { fields, files });
}

const inboxSize = (page) => page.evaluate(async () => (await (await caches.open('pos-share-inbox')).keys()).length);

async function main() {
  const chromium = preflight();
  const base = await startServer({ PERSONALOS_FILE_MAX: String(FILE_MAX) });
  const { step, finish } = runner('share');
  const browser = await launch(chromium);

  await step('the manifest declares a POST share target with files', null, async () => {
    const man = await (await fetch(base + '/manifest.webmanifest')).json();
    const st = man.share_target;
    assert(st && st.action === '/share' && st.method === 'POST' && st.enctype === 'multipart/form-data', 'share_target: ' + JSON.stringify(st));
    assert(st.params.title === 'title' && st.params.text === 'text' && st.params.url === 'url', 'params');
    const accept = st.params.files[0].accept;
    assert(st.params.files[0].name === 'files', 'files field');
    for (const t of ['application/pdf', 'image/png', 'image/jpeg', '.docx', '.odt', 'message/rfc822', 'text/calendar'])
      assert(accept.includes(t), 'accepts ' + t);
  });

  const owner = await account(base, 'share');
  const ctx = await browser.newContext({ baseURL: base });
  const page = await ctx.newPage();

  await step('a shared PDF is kept, listed with the upload limit, uploaded and found by a phrase inside it', page, async () => {
    await signIn(page, base, (await call(base, 'POST', '/api/auth/login', { email: owner.email, password: PASSWORD })).json);
    await controlled(page, base);
    const r = await share(page, { url: 'http://example.org/reports/pelicans' }, [
      { name: 'report.pdf', type: 'application/pdf', b64: sample('report.pdf') },
      { name: 'huge-scan.tiff', type: 'image/tiff', bytes: FILE_MAX + 4096 },
    ]);
    assert(r.redirected, 'a 303 to the share page: ' + JSON.stringify(r));
    assert((await inboxSize(page)) === 3, 'two files and the meta kept');
    await page.goto(r.url);
    await page.getByTestId('share-file').filter({ hasText: 'report.pdf' }).waitFor();
    await page.getByTestId('share-limits').filter({ hasText: 'Files up to 64 KB each' }).waitFor();
    await page.getByTestId('share-too-big').waitFor();
    assert((await page.getByTestId('share-file').count()) === 2, 'both files listed');
    assert((await countPhrase(base, owner.token, 'pelican migration')) === 0, 'nothing sent before Save');
    await page.screenshot({ path: path.join(ARTIFACTS, 'share-inbox.png'), fullPage: true });
    await page.getByTestId('share-save').click();
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 30_000 });
    const id = page.url().split('/').pop();
    const m = (await call(base, 'GET', '/api/memories/' + id, undefined, owner.token)).json;
    assert(m.type === 'file' && m.source === 'share' && m.attachments.length === 1 && m.attachments[0].name === 'report.pdf', 'file memory: ' + JSON.stringify(m).slice(0, 300));
    assert(m.metadata && m.metadata.url === 'http://example.org/reports/pelicans', 'the shared link in metadata.url');
    await waitUntil(async () => (await countPhrase(base, owner.token, 'pelican migration')) === 1, 'the PDF text found by search', 30_000);
    const all = (await call(base, 'GET', '/api/memories', undefined, owner.token)).json;
    assert(!all.memories.some((x) => (x.content || '').startsWith('huge-scan.tiff')), 'the file over the limit was not sent');
    assert((await inboxSize(page)) === 0, 'the inbox is empty after saving');
  });

  await step('shared text alone is saved at once and opens', page, async () => {
    const r = await share(page, { title: 'Tide tables for Porthcurno', text: 'Low tide at 14:20 on Saturday', url: 'http://example.org/tides' });
    assert(r.redirected, 'redirected');
    await page.goto(r.url);
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const m = (await call(base, 'GET', '/api/memories/' + page.url().split('/').pop(), undefined, owner.token)).json;
    assert(m.content.includes('Low tide at 14:20') && m.content.includes('Tide tables for Porthcurno'), 'content: ' + m.content);
    assert(m.source === 'share' && m.metadata.url === 'http://example.org/tides', 'source and url');
    assert((await inboxSize(page)) === 0, 'inbox empty');
  });

  await step('the old GET /share?title&text&url still saves', page, async () => {
    await page.goto(base + '/share?' + new URLSearchParams({ text: 'Read later http://example.org/essay' }));
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const m2 = (await call(base, 'GET', '/api/memories/' + page.url().split('/').pop(), undefined, owner.token)).json;
    assert(m2.content === 'Read later http://example.org/essay' && m2.metadata.url === 'http://example.org/essay', 'text share: ' + JSON.stringify(m2));
  });

  await step('an empty share saves nothing', page, async () => {
    const before = (await call(base, 'GET', '/api/memories', undefined, owner.token)).json.total;
    await page.goto(base + '/share');
    await page.getByText('Nothing was shared').waitFor({ timeout: 20_000 });
    assert((await call(base, 'GET', '/api/memories', undefined, owner.token)).json.total === before, 'nothing saved');
  });

  await step('a share made signed out waits for sign-in, then is saved', page, async () => {
    const other = await account(base, 'later');
    await page.evaluate(() => localStorage.removeItem('pos.session'));
    const r = await share(page, {}, [{ name: 'notes.docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', b64: sample('notes.docx') }]);
    assert(r.redirected, 'redirected');
    await page.goto(r.url);
    await page.getByText('Sign in to save what you shared').waitFor();
    assert((await inboxSize(page)) === 2, 'kept while signed out');
    // sign in on the login page (not lib's login(): the app may leave the
    // timeline for /share before its capture box is seen)
    await page.getByTestId('login-email').fill(other.email);
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/share$/, { timeout: 20_000 });
    await page.getByTestId('share-file').filter({ hasText: 'notes.docx' }).waitFor();
    await page.getByTestId('share-save').click();
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 30_000 });
    await waitUntil(async () => (await countPhrase(base, other.token, 'saffron greenhouse')) === 1, 'the DOCX text found by search', 30_000);
    assert((await countPhrase(base, owner.token, 'saffron greenhouse')) === 0, 'not in the other account');
  });

  await ctx.close();
  await browser.close();
  return finish();
}

run(main);
