// Issue 14, the web app's Export & import page (Settings → Export & import):
// a sealed JSON export made in the browser, downloaded, and imported with its
// passphrase into a second account through the same page; a CSV with bad rows
// lists each failing item with its position.
//
//   POS_BIN=build/personalos node tests/e2e/test_export.mjs
import fs from 'node:fs';
import path from 'node:path';
import {
  preflight, launch, startServer, runner, run, assert, waitUntil, call, account, login,
  countPhrase, tempDir,
} from './lib.mjs';

const chromium = preflight();
const PASS = 'lantern orchard 77 sealed';

async function main() {
  const base = await startServer();
  const browser = await launch(chromium);
  const { step, finish } = runner('export');
  const a = await account(base, 'exporter');
  const b = await account(base, 'importer');
  for (const t of ['Harbour lighthouse keeper schedule', 'Recipe for quince jam', 'Passport renewal in March'])
    await call(base, 'POST', '/api/memories', { content: t, type: 'note' }, a.token);
  const ctx = await browser.newContext({ baseURL: base, serviceWorkers: 'block', acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const dir = tempDir();
  let file = null;

  await step('A exports everything as sealed JSON from Settings, and downloads it', page, async () => {
    await login(page, a.email);
    await page.goto('/settings');
    await page.getByTestId('export-link').click();
    await page.getByTestId('export-form').waitFor();
    await page.getByTestId('export-seal').check();
    await page.getByTestId('export-passphrase').fill(PASS);
    await page.getByTestId('export-start').click();
    await page.locator('[data-testid="export-status"][data-status="done"]').waitFor();
    const status = await page.getByTestId('export-status').textContent();
    assert(status.includes('3 memories'), 'the status counts the memories: ' + status);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download').click()]);
    assert(/^personalos-export-\d{4}-\d{2}-\d{2}\.json$/.test(dl.suggestedFilename()), 'file name: ' + dl.suggestedFilename());
    file = path.join(dir, dl.suggestedFilename());
    await dl.saveAs(file);
    const raw = fs.readFileSync(file);
    assert(raw.subarray(0, 8).toString() === 'POSSEAL1', 'the file is sealed');
    assert(!raw.includes('quince'), 'no plaintext in the sealed file');
  });

  await step('B imports the sealed file with its passphrase: every memory arrives', page, async () => {
    await page.getByTestId('logout').click();
    await login(page, b.email);
    await page.goto('/settings/export');
    await page.getByTestId('import-format').selectOption('json');
    await page.getByTestId('import-file').setInputFiles(file);
    await page.getByTestId('import-passphrase').fill(PASS);
    await page.getByTestId('import-start').click();
    await page.locator('[data-testid="import-status"][data-status="done"]').waitFor();
    const res = await page.getByTestId('import-result').textContent();
    assert(res.includes('Added 3'), 'result: ' + res);
    await waitUntil(async () => (await countPhrase(base, b.token, 'quince jam')) === 1, 'the imported memory in B\'s account');
  });

  await step('a CSV with bad rows: the page lists each failing item by position', page, async () => {
    const csv = path.join(dir, 'notes.csv');
    fs.writeFileSync(csv, 'content,type\nGood row from a spreadsheet,note\n,note\nAnother,not-a-type\n');
    await page.getByTestId('import-format').selectOption('csv');
    await page.getByTestId('import-file').setInputFiles(csv);
    await page.getByTestId('import-passphrase').fill('');
    await page.getByTestId('import-start').click();
    await page.locator('[data-testid="import-status"][data-status="done"]').waitFor();
    const errs = await page.getByTestId('import-errors').locator('li').allTextContents();
    assert(errs.length === 2, 'two failing items: ' + JSON.stringify(errs));
    assert(errs[0].startsWith('Item 2') && errs[1].startsWith('Item 3'), 'positions: ' + JSON.stringify(errs));
    assert(pageErrors.length === 0, 'no page errors: ' + pageErrors.join('; '));
  });

  await browser.close();
  return finish();
}

run(main);
