// Issue 22, item 1: what the browser keeps belongs to one account. Two
// accounts take turns in ONE browser context (same localStorage): A's
// offline capture, capture draft and chat draft never reach B, are never
// sent with B's token, and A's queued capture reaches A when A signs in
// again (the user chose "Keep" at logout). Also: "Discard" drops it.
//
//   POS_BIN=build/personalos node tests/e2e/test_privacy.mjs
import {
  preflight, launch, startServer, runner, run, assert, waitUntil, call, account, login,
  memoryItem, countPhrase, session,
} from './lib.mjs';

const chromium = preflight();

async function main() {
  const base = await startServer();
  const browser = await launch(chromium);
  const { step, finish } = runner('privacy');
  const a = await account(base, 'alice');
  const b = await account(base, 'bob');
  const ctx = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Every POST /api/memories the browser makes, with the account its token is for.
  const posts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/memories')
      posts.push({ auth: r.headers().authorization || '', body: r.postData() || '' });
  });
  const NOTE = 'Alice private offline note about the lawyer';

  await step('A: chat draft, offline capture, capture draft', page, async () => {
    await login(page, a.email);
    await page.goto('/chat');
    await page.getByTestId('chat-input').fill('Alice half-typed chat question');
    await page.goto('/');
    await page.getByTestId('capture-input').waitFor();
    await ctx.setOffline(true);
    await page.getByText('You are offline').waitFor();
    await page.getByTestId('capture-input').fill(NOTE);
    await page.getByTestId('capture-input').press('Enter');
    await memoryItem(page, NOTE).filter({ hasText: 'waiting to send' }).waitFor();
    await page.getByTestId('capture-input').fill('Alice half-typed capture draft');
  });

  await step('A logs out (offline) and keeps the unsent memory for later', page, async () => {
    await page.getByTestId('logout').click();
    const dialog = page.getByTestId('logout-dialog');
    await dialog.waitFor();
    assert((await dialog.textContent()).includes('1 memory has not been sent'), 'the dialog counts: ' + (await dialog.textContent()));
    await page.getByTestId('logout-keep').click();
    await page.getByTestId('login-email').waitFor();
    await page.getByText('kept on this browser').waitFor();
    const keys = await page.evaluate(() => Object.keys(localStorage));
    const stored = await page.evaluate(() => Object.values(localStorage).join('\n'));
    assert(!stored.includes('half-typed'), 'drafts are forgotten on logout: ' + JSON.stringify(keys));
    assert(!keys.includes('pos.session'), 'no session left');
    assert(keys.every((k) => !k.startsWith('pos.') || k.startsWith(`pos.u.${a.id}.`)), 'only A-owned keys remain: ' + JSON.stringify(keys));
    await ctx.setOffline(false);
  });

  await step('B signs in on the same browser: no A draft, no A outbox, nothing sent to B', page, async () => {
    const before = posts.length;
    await login(page, b.email);
    assert((await page.getByTestId('capture-input').inputValue()) === '', 'B sees no capture draft');
    assert((await memoryItem(page, NOTE).count()) === 0, 'B does not see A\'s queued note');
    assert((await page.getByText('waiting to send').count()) === 0, 'nothing waits in B\'s outbox');
    // B's own capture succeeds, which also flushes B's outbox.
    await page.getByTestId('capture-input').fill('Bob note from the shared computer');
    await page.getByTestId('capture-input').press('Enter');
    await memoryItem(page, 'Bob note from the shared computer').waitFor();
    await waitUntil(async () => (await countPhrase(base, b.token, 'Bob note from the shared computer')) === 1, 'B\'s note on the server');
    await page.goto('/chat');
    await page.getByTestId('chat-input').waitFor();
    assert((await page.getByTestId('chat-input').inputValue()) === '', 'B sees no chat draft');
    assert((await countPhrase(base, b.token, NOTE)) === 0, 'A\'s note is not in B\'s account');
    assert((await countPhrase(base, a.token, NOTE)) === 0, 'nor sent to A yet');
    const leaked = posts.slice(before).filter((p) => p.body.includes('Alice'));
    assert(leaked.length === 0, 'no request of B\'s session carried A\'s data: ' + JSON.stringify(leaked));
  });

  await step('B logs out without a question; A signs in and A\'s note is sent to A', page, async () => {
    await page.getByTestId('logout').click();
    await page.getByTestId('login-email').waitFor();
    assert((await page.getByTestId('logout-dialog').count()) === 0, 'no dialog: B had nothing waiting');
    const before = posts.length;
    await login(page, a.email);
    await waitUntil(async () => (await countPhrase(base, a.token, NOTE)) === 1, 'A\'s queued note in A\'s account');
    const s = await session(page);
    const sent = posts.slice(before).filter((p) => p.body.includes('Alice private'));
    assert(sent.length === 1 && sent[0].auth === 'Bearer ' + s.access_token, 'sent once, with A\'s token');
    assert((await countPhrase(base, b.token, NOTE)) === 0, 'never in B\'s account');
    assert((await page.getByTestId('capture-input').inputValue()) === '', 'A\'s draft was forgotten at logout');
    await memoryItem(page, NOTE).waitFor();
    assert((await memoryItem(page, NOTE).filter({ hasText: 'waiting to send' }).count()) === 0, 'no longer waiting');
  });

  await step('"Discard and log out" drops the unsent memory', page, async () => {
    await ctx.setOffline(true);
    await page.getByTestId('capture-input').fill('Alice note to be discarded');
    await page.getByTestId('capture-input').press('Enter');
    await memoryItem(page, 'to be discarded').filter({ hasText: 'waiting to send' }).waitFor();
    await page.getByTestId('logout').click();
    await page.getByTestId('logout-discard').click();
    await page.getByTestId('login-email').waitFor();
    const keys = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pos.')));
    assert(keys.length === 0, 'nothing of A is left: ' + JSON.stringify(keys));
    await ctx.setOffline(false);
    await login(page, a.email);
    await page.getByTestId('capture-input').fill('Alice is back');
    await page.getByTestId('capture-input').press('Enter');
    await waitUntil(async () => (await countPhrase(base, a.token, 'Alice is back')) === 1, 'the new note');
    assert((await countPhrase(base, a.token, 'to be discarded')) === 0, 'the discarded note never went');
    assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join(' | '));
  });

  await step('another tab switching accounts: this tab starts over, never shows or sends A\'s data', page, async () => {
    // page: A signed in, a chat draft typed (kept in component state too).
    await page.goto('/chat');
    await page.getByTestId('chat-input').fill('Alice draft in the first tab');
    const other = await ctx.newPage();
    try {
      await other.goto('/');
      await other.getByTestId('capture-input').waitFor();
      await other.getByTestId('logout').click();
      await other.getByTestId('login-email').waitFor();
      await login(other, b.email);
      // The first tab followed: signed out with A's logout (the login
      // page), then started over as B (the timeline).
      await waitUntil(async () => (await page.getByTestId('capture-input').count()) === 1
        && (await page.evaluate(() => JSON.parse(localStorage.getItem('pos.session') || 'null')?.user?.id)) === b.id,
      'the first tab to start over as B', 20_000);
      assert(!(await page.content()).includes('Alice draft'), 'no A draft on B\'s screen');
      await page.goto('/chat');
      await page.getByTestId('chat-input').waitFor();
      assert((await page.getByTestId('chat-input').inputValue()) === '', 'B\'s chat box is empty');
    } finally {
      await other.close();
    }
  });

  await browser.close();
  return finish();
}

run(main);
