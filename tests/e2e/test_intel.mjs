// Issue 16 in the browser: the layer policy on the Settings page (edit,
// save, apply now and see what moved), the Stats page's 90-day series,
// distributions and graph links with their strength, and the graph around
// a memory opened from its page.
//
//   POS_BIN=build/personalos node tests/e2e/test_intel.mjs
import { preflight, launch, startServer, runner, run, assert, waitUntil, call, account, login } from './lib.mjs';

const chromium = preflight();

const daysAgo = (n) => new Date(Date.now() - n * 86400e3).toISOString().slice(0, 19) + 'Z';

async function main() {
  const base = await startServer();
  const browser = await launch(chromium);
  const { step, finish } = runner('intel');
  const a = await account(base, 'intel');
  const mk = async (body) => {
    const r = await call(base, 'POST', '/api/memories', { source: 'web', ...body }, a.token);
    assert(r.status === 201, 'seeded: ' + r.status + ' ' + r.text.slice(0, 200));
    return r.json;
  };
  const old = await mk({ content: 'An old receipt from the hardware store', created_at: daysAgo(40) });
  await mk({ content: 'Kitchen tiles: ordered', tags: ['kitchen'] });
  await mk({ content: 'Kitchen plan', tags: ['kitchen'], related_memory_ids: [old.id] });
  const ctx = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await login(page, a.email);

  await step('settings: the layer policy is edited, saved and applied', page, async () => {
    await page.goto('/settings');
    const archive = page.getByTestId('policy-archive_days');
    await archive.waitFor();
    assert((await archive.inputValue()) === '90', 'default archive_days shown');
    await archive.fill('30');
    await page.getByRole('button', { name: 'Save layer policy' }).click();
    await waitUntil(async () => {
      const r = await call(base, 'GET', '/api/memories/lifecycle/policy', undefined, a.token);
      return r.json && r.json.archive_days === 30;
    }, 'the policy was saved');
    await page.getByTestId('lifecycle-run').click();
    const result = page.getByTestId('lifecycle-result');
    await result.waitFor();
    const text = await result.textContent();
    assert(/active → archive: 1/.test(text), 'the run says what moved: ' + text);
    const r = await call(base, 'GET', '/api/memories/' + old.id, undefined, a.token);
    assert(r.json.layer === 'active', 'opening it brought it back: ' + r.json.layer);
  });

  await step('stats: series, distributions and the graph', page, async () => {
    await page.goto('/stats');
    await page.getByTestId('chart-series-type').waitFor();
    await page.getByTestId('chart-series-layer').waitFor();
    await page.getByTestId('chart-series-source').waitFor();
    assert(await page.getByRole('heading', { name: 'Importance' }).isVisible(), 'importance distribution');
    assert(await page.getByRole('heading', { name: 'Times opened' }).isVisible(), 'access distribution');
    await page.getByTestId('graph').waitFor();
    assert(pageErrors.length === 0, 'no page errors: ' + pageErrors.join('; '));
  });

  await step('stats: charts and graph follow light and dark', page, async () => {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto('/stats');
    const ids = ['chart-per-day', 'chart-series-type', 'graph'];
    const colours = async () => Promise.all(ids.map((id) => page.getByTestId(id).getAttribute('data-text')));
    await page.getByTestId('graph').waitFor();
    const light = await colours();
    assert(light.every((c) => c === '#1d2421'), 'light text colour: ' + light.join(', '));
    // switched while the page is open: drawn again in the dark colours
    await page.emulateMedia({ colorScheme: 'dark' });
    await waitUntil(async () => (await colours()).every((c) => c === '#e7ece9'), 'the dark colours');
    await page.emulateMedia({ colorScheme: 'light' });
    await waitUntil(async () => (await colours()).every((c) => c === '#1d2421'), 'light again');
    assert(pageErrors.length === 0, 'no page errors: ' + pageErrors.join('; '));
  });

  await step('a memory\'s page opens the graph around it', page, async () => {
    await page.goto('/memories/' + old.id);
    await page.getByTestId('graph-from-memory').click();
    await page.getByTestId('graph-whole').waitFor();
    const links = await page.getByTestId('graph-link').allTextContents();
    assert(links.length === 2, 'the memory and its one link: ' + links.join(' | '));
    assert(pageErrors.length === 0, 'no page errors: ' + pageErrors.join('; '));
  });

  await step('the timeline opens the graph around a linked memory', page, async () => {
    await page.goto('/');
    const badge = page.getByTestId('graph-from-timeline');
    await badge.first().waitFor();
    // two memories have links: the kitchen plan (1 link) and the receipt it links to
    assert((await badge.count()) === 2, 'a links badge on each linked card: ' + (await badge.count()));
    await badge.first().click();
    await page.getByTestId('graph-whole').waitFor();
    assert(/\/stats\?root=/.test(page.url()), 'the graph around it: ' + page.url());
    const links = await page.getByTestId('graph-link').allTextContents();
    assert(links.length === 2, 'the memory and its one link: ' + links.join(' | '));
    assert(pageErrors.length === 0, 'no page errors: ' + pageErrors.join('; '));
  });

  await browser.close();
  return finish();
}

run(main);
