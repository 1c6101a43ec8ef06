// Live events in the web app (docs/EVENTS.md): two tabs of one account. A
// memory captured in tab A shows up in tab B's timeline without a reload;
// an edit made elsewhere shows on B's open memory page; a delete made
// elsewhere leaves B's timeline. B never reloads (a marker set on its
// window survives).
//
//   POS_BIN=build/personalos node tests/e2e/test_live.mjs
import { preflight, launch, startServer, runner, run, assert, call, account, login, memoryItem } from './lib.mjs';

const chromium = preflight();

async function main() {
  const base = await startServer();
  const browser = await launch(chromium);
  const { step, finish } = runner('live');
  const u = await account(base, 'live');
  const ctx = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  const a = await ctx.newPage();
  a.setDefaultTimeout(15_000);
  const pageErrors = [];
  a.on('pageerror', (e) => pageErrors.push(String(e)));
  await login(a, u.email);
  const b = await ctx.newPage(); // the same account, like a second tab
  b.setDefaultTimeout(15_000);
  b.on('pageerror', (e) => pageErrors.push(String(e)));
  await b.goto('/');
  await b.getByTestId('capture-input').waitFor();
  await b.evaluate(() => {
    window.__notReloaded = true;
  });
  const text = 'Live from tab A ' + Date.now();
  let id;

  await step('a memory captured in tab A shows in tab B without a reload', b, async () => {
    await a.getByTestId('capture-input').fill(text);
    await a.getByTestId('capture-submit').click();
    await memoryItem(a, text).first().waitFor();
    await memoryItem(b, text).first().waitFor();
    assert(await b.evaluate(() => window.__notReloaded === true), 'tab B was not reloaded');
    const r = await call(base, 'GET', '/api/memories/search?query=' + encodeURIComponent('"' + text + '"'), undefined, u.token);
    id = r.json.memories[0].id;
  });

  await step('an edit made elsewhere shows on the open memory page', b, async () => {
    await b.goto('/memories/' + id);
    await b.getByText(text).first().waitFor();
    await b.evaluate(() => {
      window.__notReloaded = true;
    });
    const edited = text + ' (edited by another client)';
    const r = await call(base, 'PUT', '/api/memories/' + id, { content: edited }, u.token);
    assert(r.status === 200, 'edited: ' + r.status);
    await b.getByText('(edited by another client)').first().waitFor();
    assert(await b.evaluate(() => window.__notReloaded === true), 'tab B was not reloaded');
  });

  await step('a delete made elsewhere leaves tab B\'s timeline', b, async () => {
    await b.goto('/');
    await memoryItem(b, text).first().waitFor();
    const r = await call(base, 'DELETE', '/api/memories/' + id, undefined, u.token);
    assert(r.status === 204, 'deleted: ' + r.status);
    await memoryItem(b, text).first().waitFor({ state: 'detached' });
  });

  assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join('; '));
  await browser.close();
  return finish();
}

run(main);
