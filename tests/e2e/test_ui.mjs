// Issue 22, items 2-12 in the browser: sign-in, the capture box,
// tasks, dates and reminders, conversations kept apart, structure and focus, the
// editor, search while typing, the phone layout, dark mode, keyboard-only
// use; then axe-core over every page (no serious or critical violations;
// light at both widths, dark's colours at 1280) and a screenshot of each
// page at 1280x800 and 360x740 light and 1280x800 dark
// into $POS_E2E_ARTIFACTS (pages-*.png).
//
//   POS_BIN=build/personalos node tests/e2e/test_ui.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  ROOT, ARTIFACTS, PASSWORD, userFolder, preflight, launch, startServer, runner, run, assert, waitUntil, call, account, login,
  memoryItem, noHorizontalOverflow, tempDir,
} from './lib.mjs';

const chromium = preflight();
const AXE = readFileSync(createRequire(path.join(ROOT, 'web/package.json')).resolve('axe-core/axe.min.js'), 'utf8');

const LONG = Array.from({ length: 40 }, (_, i) => `Line ${i + 1} of a very long packing list for the summer holiday.`).join('\n');

async function seed(base, token) {
  const mk = async (body) => {
    const r = await call(base, 'POST', '/api/memories', { source: 'web', ...body }, token);
    assert(r.status === 201 || r.status === 200, 'seeded: ' + r.status + ' ' + r.text.slice(0, 200));
    return r.json;
  };
  return {
    heading: await mk({ content: '# Big heading inside a note\n\nSome text under it.', type: 'note', tags: ['Work'] }),
    link: await mk({ content: 'Reading list: see [the article](https://example.com/article) later', type: 'note' }),
    tap: await mk({ content: 'Bookmark: [the recipe site](https://example.com/recipes) for Sunday', type: 'note' }),
    long: await mk({ content: LONG, type: 'note' }),
    conv: await mk({ content: 'User: what is on today?\nAssistant: nothing much', type: 'conversation' }),
    task: await mk({ content: 'Renew the passport', type: 'action', metadata: { completed: false, due: '2026-12-20' } }),
  };
}

async function main() {
  const base = await startServer();
  const browser = await launch(chromium);
  const { step, finish } = runner('ui');
  const a = await account(base, 'ui');
  const seeded = await seed(base, a.token);
  const ctx = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // The app's CSP allows no inline script or style; libraries must not trip it.
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text()) && !/inline event handler/i.test(m.text())) pageErrors.push('CSP: ' + m.text());
  });
  const searchUrls = [];
  page.on('request', (r) => r.url().includes('/api/memories/search') && searchUrls.push(r.url()));

  // A new account's first capture: the note shows, the empty state goes.
  await step('first capture: no "No memories yet" next to the new memory', page, async () => {
    const fresh = await account(base, 'first');
    await login(page, fresh.email);
    await page.getByText('No memories yet').waitFor();
    await page.getByTestId('capture-input').fill('My very first note');
    await page.getByTestId('capture-submit').click();
    await memoryItem(page, 'My very first note').waitFor();
    assert((await page.getByText('No memories yet').count()) === 0, 'the empty state is gone next to the memory');
    await page.reload();
    await memoryItem(page, 'My very first note').waitFor();
    assert((await page.getByText('No memories yet').count()) === 0, 'and after a reload');
    await page.evaluate(() => localStorage.clear());
    await page.context().clearCookies();
  });

  await step('sign-in: an error goes when switching to Create account; the strength meter', page, async () => {
    await page.goto('/login');
    assert((await page.title()).startsWith('Sign in'), 'title: ' + (await page.title()));
    await page.getByTestId('login-email').fill(a.email);
    await page.getByTestId('login-password').fill('wrong password 123');
    await page.getByTestId('login-submit').click();
    await page.getByRole('alert').waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByTestId('register-email').waitFor();
    assert((await page.getByRole('alert').count()) === 0, 'the sign-in error is gone on Create account');
    assert((await page.title()).startsWith('Create your account'), 'its own title: ' + (await page.title()));
    await page.getByTestId('register-password').fill('aaaaaaaaaa');
    const meter = page.getByTestId('password-strength');
    await meter.waitFor({ timeout: 30_000 });
    assert(Number(await meter.getAttribute('data-score')) <= 1, 'aaaaaaaaaa is weak: ' + (await meter.textContent()));
    await page.getByTestId('register-password').fill('violet tram 84 gallops sideways');
    await waitUntil(async () => Number(await meter.getAttribute('data-score')) >= 3, 'a strong password to read strong');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await login(page, a.email);
  });

  await step('capture: type, tags and layer reset after saving; layer on screen', page, async () => {
    assert(await page.getByTestId('capture-layer').isVisible(), 'the layer is visible without "More"');
    await page.getByTestId('capture-type').selectOption('action');
    await page.getByTestId('capture-layer').selectOption('reference');
    await page.getByTestId('capture-tags').fill('errands');
    await page.getByTestId('capture-due').fill('2026-12-24');
    await page.getByTestId('capture-input').fill('Buy wrapping paper');
    await page.getByTestId('capture-input').press('Enter');
    await memoryItem(page, 'wrapping paper').waitFor();
    assert((await page.getByTestId('capture-type').inputValue()) === 'note', 'type back to note');
    assert((await page.getByTestId('capture-layer').inputValue()) === 'active', 'layer back to active');
    assert((await page.getByTestId('capture-tags').inputValue()) === '', 'tags cleared');
    const list = (await call(base, 'GET', '/api/memories?limit=50', undefined, a.token)).json.memories;
    const m = list.find((x) => x.content === 'Buy wrapping paper');
    assert(m && m.type === 'action' && m.layer === 'reference' && m.tags.includes('errands') && m.metadata.due === '2026-12-24',
      'saved with the choices: ' + JSON.stringify(m));
    await page.reload();
    await page.getByTestId('capture-input').waitFor();
    assert((await page.getByTestId('capture-type').inputValue()) === 'note', 'still note after a reload');
  });

  await step('tasks: done checkbox, due date, Today group, time zone setting', page, async () => {
    const card = memoryItem(page, 'Renew the passport');
    await card.getByTestId('due').filter({ hasText: '20' }).waitFor();
    await card.getByTestId('task-done').check();
    await waitUntil(async () => (await call(base, 'GET', '/api/memories/' + seeded.task.id, undefined, a.token)).json.metadata.completed === true,
      'metadata.completed on the server');
    assert(new URL(page.url()).pathname === '/', 'ticking did not open the memory');
    await page.getByRole('heading', { name: 'Today', level: 2 }).waitFor();
    // The time zone setting changes the times shown.
    const shown = async () => (await memoryItem(page, 'Renew the passport').locator('time').textContent()).trim();
    await page.goto('/settings');
    await page.getByTestId('timezone').selectOption('Pacific/Kiritimati');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    await page.goto('/');
    const kiri = await shown();
    await page.goto('/settings');
    await page.getByTestId('timezone').selectOption('Pacific/Pago_Pago');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    await page.goto('/');
    const pago = await shown();
    assert(kiri !== pago, `times follow the chosen zone: ${kiri} vs ${pago}`);
    const me = (await call(base, 'GET', '/api/auth/me', undefined, a.token)).json;
    assert(me.settings.timezone === 'Pacific/Pago_Pago', 'stored in settings: ' + JSON.stringify(me.settings));
    await page.goto('/settings');
    await page.getByTestId('timezone').selectOption('');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    await page.goto('/');
  });

  await step('tasks on their page: done box, due date edited, the rest of metadata kept', page, async () => {
    await page.goto('/memories/' + seeded.task.id);
    await page.getByTestId('detail-done').waitFor();
    assert(await page.getByTestId('detail-done').isChecked(), 'done, as ticked in the list');
    await page.getByTestId('memory-edit').click();
    await page.getByTestId('edit-due').fill('2027-01-15');
    await page.getByTestId('edit-save').click();
    await page.getByTestId('memory-edit').waitFor();
    const m = (await call(base, 'GET', '/api/memories/' + seeded.task.id, undefined, a.token)).json;
    assert(m.metadata.due === '2027-01-15' && m.metadata.completed === true, 'due changed, completed kept: ' + JSON.stringify(m.metadata));
    await page.getByTestId('detail-done').uncheck();
    await waitUntil(async () => (await call(base, 'GET', '/api/memories/' + seeded.task.id, undefined, a.token)).json.metadata.completed === false,
      'reopened on the server');
    await page.getByTestId('detail-done').check();
    await waitUntil(async () => (await call(base, 'GET', '/api/memories/' + seeded.task.id, undefined, a.token)).json.metadata.completed === true,
      'done again');
    await page.goto('/');
  });

  await step('reminders: set from the capture box; a due reminder shows once, with Open and a notification', page, async () => {
    // Set from the UI: the capture box stores metadata.remind_at as an instant.
    await page.goto('/');
    await page.getByTestId('capture-input').fill('Water the plants');
    await page.getByTestId('capture-type').selectOption('action');
    await page.getByTestId('capture-remind').fill('2027-03-01T09:30');
    await page.getByTestId('capture-submit').click();
    let set = null;
    await waitUntil(async () => {
      const list = (await call(base, 'GET', '/api/memories?type=action&limit=50', undefined, a.token)).json.memories;
      set = list.find((m) => m.content === 'Water the plants');
      return set;
    }, 'the task with its reminder');
    const want = await page.evaluate(() => new Date('2027-03-01T09:30').toISOString());
    assert(set.metadata.remind_at === want, 'remind_at as an instant: ' + JSON.stringify(set.metadata));
    await memoryItem(page, 'Water the plants').getByTestId('remind').waitFor();
    // A reminder falling due while the app is open (notifications recorded),
    // in a page of its own (the first page leaves the app: one tab shows it).
    await page.goto('about:blank');
    const rp = await ctx.newPage();
    await rp.addInitScript(() => {
      window.__notes = [];
      window.Notification = class { constructor(title, o) { window.__notes.push(title + ': ' + o.body); } };
      window.Notification.permission = 'granted';
      window.Notification.requestPermission = async () => 'granted';
    });
    const soon = new Date(Date.now() + 3000).toISOString();
    const r = await call(base, 'POST', '/api/memories', { content: 'Call the plumber about the boiler', type: 'action',
      metadata: { completed: false, remind_at: soon } }, a.token);
    assert(r.status === 201, 'task: ' + r.status);
    await rp.goto('/');
    const notice = rp.locator('.toast.reminder').filter({ hasText: 'Reminder: Call the plumber about the boiler' });
    await notice.waitFor();
    assert((await rp.evaluate(() => window.__notes)).includes('Reminder: Call the plumber about the boiler'), 'a system notification');
    await notice.getByTestId('toast-action').click();
    await waitUntil(() => rp.url().endsWith('/memories/' + r.json.id), 'Open goes to the task');
    await rp.getByTestId('detail-remind').waitFor();
    // Shown once: remembered for this account, so a reload does not repeat it.
    const fired = await rp.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('reminders-fired')).map((k) => localStorage.getItem(k)).join(''));
    assert(fired.includes(r.json.id), 'the reminder is remembered as shown: ' + fired);
    await rp.close();
    await page.goto('/');
  });

  await step('assistant offline: "this week" from the memories\' own dates, only what was used cited, no operator talk', page, async () => {
    const c = await account(base, 'week');
    const day = (n) => new Date(Date.now() + n * 864e5).toISOString().slice(0, 10);
    const mk = async (body) => (await call(base, 'POST', '/api/memories', { source: 'web', ...body }, c.token)).json;
    const dentist = await mk({ content: 'Appointment with Dr. Ruiz', type: 'event', metadata: { start_time: day(1) + 'T09:30:00Z' } });
    const tax = await mk({ content: 'Send the **tax** return', type: 'action', metadata: { completed: false, due: day(3) } });
    await mk({ content: 'Flight to Lisbon', type: 'event', metadata: { start_time: day(40) + 'T08:00:00Z' } });
    await mk({ content: 'Pay the rent', type: 'action', metadata: { completed: true, due: day(3) } });
    const cc = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
    const cp = await cc.newPage();
    cp.setDefaultTimeout(15_000);
    await login(cp, c.email);
    await cp.goto('/chat');
    await cp.getByTestId('chat-input').fill('What do I have to do this week?');
    await cp.getByTestId('chat-send').click();
    const answer = cp.locator('[data-testid=chat-answer][aria-busy=false]').last();
    await answer.waitFor();
    const text = await answer.innerText();
    assert(text.includes('Appointment with Dr. Ruiz') && text.includes(day(1)), 'the appointment by its own date: ' + text);
    assert(text.includes('Send the tax return') && !text.includes('**'), 'the task, Markdown rendered away: ' + text);
    assert(!/Lisbon|rent/.test(text), 'nothing outside the week or done: ' + text);
    assert(!/llm_url|configure/i.test(text), 'speaks to a person, not an operator: ' + text);
    const cited = await answer.getByTestId('chat-citation').evaluateAll((els) => els.map((e) => e.getAttribute('href')));
    assert(cited.length === 2 && cited.some((h) => h.endsWith(dentist.id)) && cited.some((h) => h.endsWith(tax.id)),
      'exactly the two memories used are cited: ' + cited.join(' '));
    await cc.close();
  });

  await step('conversations: hidden from the timeline, shown with the filter', page, async () => {
    await memoryItem(page, 'Renew the passport').waitFor();
    assert((await memoryItem(page, 'what is on today').count()) === 0, 'no conversation in the timeline');
    await page.getByTestId('hidden-conversations').waitFor();
    await page.getByText('Filters').click();
    await page.getByTestId('filter-conversations').check();
    await waitUntil(() => page.url().includes('type=conversation'), 'the filter in the URL');
    await memoryItem(page, 'what is on today').waitFor();
    await page.goto('/');
  });

  await step('structure: no h1 from content, one h1 and a distinct title per page, focus moves', page, async () => {
    const card = memoryItem(page, 'Big heading inside a note');
    await card.waitFor();
    assert((await card.locator('h1, h2').count()) === 0 && (await card.locator('h3').count()) === 1, 'the # heading is demoted to h3');
    const titles = new Set();
    for (const p of ['/', '/chat', '/stats', '/tokens', '/settings', '/settings/security', '/sync', '/search?q=passport', '/memories/' + seeded.task.id]) {
      await page.goto(p);
      await page.locator('h1').first().waitFor({ state: 'attached' });
      await waitUntil(async () => (await page.locator('main h1').count()) === 1, 'one h1 on ' + p);
      const t = await page.title();
      assert(!titles.has(t), `title "${t}" of ${p} is not distinct`);
      titles.add(t);
    }
    await page.goto('/');
    await page.getByTestId('capture-input').waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Stats' }).click();
    await waitUntil(() => page.evaluate(() => document.activeElement && document.activeElement.tagName === 'H1'), 'focus on the new page\'s h1');
  });

  await step('editor: focus inside, Esc cancels, Ctrl+Enter saves, preview, unsaved edits ask', page, async () => {
    await page.goto('/memories/' + seeded.link.id);
    await page.getByTestId('memory-edit').click();
    await waitUntil(() => page.evaluate(() => document.activeElement.dataset.testid === 'edit-content'), 'focus in the editor');
    await page.keyboard.press('Escape');
    await page.getByTestId('memory-edit').waitFor();
    await page.getByTestId('memory-edit').click();
    await page.getByTestId('edit-content').fill('Reading list: **bold** idea');
    await page.getByTestId('edit-preview').click();
    await page.getByTestId('edit-preview-body').locator('strong', { hasText: 'bold' }).waitFor();
    await page.getByTestId('edit-preview').click();
    // Leaving with unsaved edits asks; dismissing stays.
    let asked = 0;
    const onDialog = (d) => {
      asked++;
      d.dismiss();
    };
    page.on('dialog', onDialog);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Timeline' }).click();
    await waitUntil(() => asked === 1, 'the leave question');
    assert(page.url().includes('/memories/'), 'still on the memory');
    page.off('dialog', onDialog);
    await page.getByTestId('edit-content').focus();
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('memory-edit').waitFor();
    const m = await call(base, 'GET', '/api/memories/' + seeded.link.id, undefined, a.token);
    assert(m.json.content === 'Reading list: **bold** idea', 'Ctrl+Enter saved: ' + m.json.content);
  });

  await step('keyboard only: open a memory, edit and save without the mouse', page, async () => {
    await page.goto('/');
    await page.getByTestId('capture-input').waitFor();
    await page.keyboard.press('n');
    await waitUntil(() => page.evaluate(() => document.activeElement && document.activeElement.dataset.testid === 'capture-input'),
      "'n' to focus the capture box");
    await page.keyboard.type('Typed without a mouse');
    await page.keyboard.press('Enter');
    const card = memoryItem(page, 'Typed without a mouse');
    await card.waitFor();
    await card.locator('a.when').focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('memory-edit').waitFor();
    await page.getByTestId('memory-edit').focus();
    await page.keyboard.press('Enter');
    await waitUntil(() => page.evaluate(() => document.activeElement.dataset.testid === 'edit-content'), 'focus in the editor');
    await page.keyboard.press('End');
    await page.keyboard.type(', then saved');
    await page.keyboard.press('Control+Enter');
    await page.locator('.detail .md').filter({ hasText: 'then saved' }).waitFor();
  });

  await step('not found: a missing memory has its own page and a way back', page, async () => {
    await page.goto('/memories/00000000-0000-4000-8000-000000000000');
    await page.getByTestId('not-found').waitFor();
    assert((await page.title()).startsWith('Memory not found'), 'title: ' + (await page.title()));
    assert((await page.getByRole('button', { name: 'Try again' }).count()) === 0, 'no useless Try again');
    await page.getByRole('link', { name: 'Back to the timeline' }).click();
    await page.getByTestId('capture-input').waitFor();
  });

  await step('search: no raw scores, prefix while typing, half-typed filters, completions, empty state', page, async () => {
    await page.getByTestId('search-input').click();
    await page.keyboard.type('passp');
    await memoryItem(page, 'Renew the passport').waitFor();
    assert((await page.locator('.score').count()) === 0, 'no raw scores');
    const cards = await page.getByTestId('memory-item').allTextContents();
    assert(!cards.some((t) => /\b\d\.\d{3}\b/.test(t)), 'no 0.000-style numbers on cards');
    assert(searchUrls.some((u) => /[?&]prefix=1\b/.test(u)), 'the as-you-type flag is sent: ' + searchUrls.slice(-3).join(' '));
    await page.getByTestId('search-input').fill('');
    await page.getByTestId('search-input').type('after:2026-1');
    await page.getByTestId('partial-filter').waitFor();
    assert((await page.locator('main [role=alert]').count()) === 0, 'no red error for a half-typed date');
    await page.getByTestId('search-input').fill('');
    await page.getByTestId('search-input').type('type:ac');
    assert((await page.locator('main [role=alert]').count()) === 0, 'no red error for a half-typed type');
    await page.getByTestId('completions').getByRole('button', { name: 'type:action' }).click();
    await waitUntil(() => new URL(page.url()).searchParams.get('q') === 'type:action ', 'the completion in the query');
    await page.getByRole('button', { name: 'Remove filter type:action' }).waitFor();
    await page.getByTestId('search-input').fill('tag:wo');
    await page.getByTestId('completions').getByRole('button', { name: 'tag:Work' }).waitFor();
    // A nonsense word: the real server finds nothing (relevance cutoff).
    await page.getByTestId('search-input').fill('qwxzv');
    await page.getByTestId('search-empty').getByRole('link', { name: 'Browse the timeline' }).waitFor();
  });

  await step('badges: type and layer look different and are explained', page, async () => {
    await page.goto('/');
    const card = memoryItem(page, 'Renew the passport');
    await card.waitFor();
    const style = (loc) => loc.evaluate((e) => { const s = getComputedStyle(e); return s.backgroundColor + '|' + s.borderStyle + '|' + s.fontStyle; });
    const t = await style(card.getByTestId('type-badge'));
    const l = await style(card.getByTestId('layer-badge'));
    assert(t !== l, `type and layer badges differ: ${t} / ${l}`);
    assert(/Layer/.test(await card.getByTestId('layer-badge').getAttribute('title')), 'the layer badge explains layers');
    await page.getByTestId('capture-input').click();
    await page.getByRole('button', { name: 'Importance' }).click();
    await page.getByText('higher ranks it higher').waitFor();
  });

  await step('stats: a dated chart with a legend, future days not active, a labelled graph with links', page, async () => {
    const today = new Date().toISOString().slice(0, 10);
    const future = new Date(Date.now() + 20 * 864e5).toISOString().slice(0, 10);
    // A memory dated in the future (an import may set created_at) and a link
    // between two memories, both through the real API.
    const fut = await call(base, 'POST', '/api/memories', { content: 'Dentist appointment next month', type: 'event',
      created_at: future + 'T09:00:00Z' }, a.token);
    assert(fut.status === 201, 'future memory: ' + fut.status);
    const ids = [seeded.heading.id, seeded.task.id];
    const link = await call(base, 'PUT', '/api/memories/' + ids[0], { related_memory_ids: [ids[1]] }, a.token);
    assert(link.status === 200, 'link: ' + link.status + ' ' + link.text.slice(0, 200));
    const per = (await call(base, 'GET', '/api/memories/stats', undefined, a.token)).json.per_day;
    assert(per.some((d) => d.date === future), 'the server counts the future day: ' + JSON.stringify(per));
    await page.goto('/stats');
    await page.getByTestId('chart-per-day').locator('canvas').waitFor();
    await page.getByTestId('chart-per-day').getByText('Memories written').waitFor();
    const label = await page.getByTestId('chart-per-day').getAttribute('aria-label');
    assert(label.includes(today), 'the chart is dated up to today: ' + label);
    assert((await page.getByTestId('active-days').locator('strong').textContent()).trim() === '1', 'the future day is not an active day');
    await page.getByTestId('graph').locator('canvas').first().waitFor();
    await page.getByText('The memories in the graph').click();
    await page.getByTestId('graph-link').filter({ hasText: 'Renew the passport' }).click();
    await waitUntil(() => page.url().endsWith('/memories/' + ids[1]), 'the graph link to open the memory');
    await call(base, 'DELETE', '/api/memories/' + fut.json.id, undefined, a.token);
  });

  await step('sync: friendly default name, the Kind choice not cut off, upload with a clear message', page, async () => {
    await page.goto('/sync');
    const kind = page.getByTestId('sync-kind');
    await kind.selectOption('ics_url');
    const fits = await kind.evaluate((e) => {
      const c = document.createElement('canvas').getContext('2d');
      c.font = getComputedStyle(e).font;
      return c.measureText(e.options[e.selectedIndex].text).width + 24 <= e.clientWidth;
    });
    assert(fits, 'the chosen kind fits its box');
    await kind.selectOption('ics_file');
    await page.getByTestId('sync-interval').selectOption('0');
    // One event: a small timeline keeps the later screenshots quick.
    const dir = await userFolder(base, a.token);
    writeFileSync(path.join(dir, 'holiday.ics'), ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//e2e//EN', 'BEGIN:VEVENT', 'UID:e2e-holiday-1',
      'DTSTAMP:20261201T090000Z', 'DTSTART:20261228T090000Z', 'DTEND:20261228T100000Z', 'SUMMARY:Ferry to the island',
      'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n'));
    await page.getByTestId('sync-field-path').fill('holiday.ics'); // relative to the user's folder
    await page.getByTestId('sync-add-submit').click();
    const row = page.getByTestId('sync-source').first();
    await row.locator('.sync-name').filter({ hasText: 'Calendar file (.ics): holiday.ics' }).waitFor();
    // Uploads go to the real server: the file becomes a source, then memories.
    let sent = null;
    page.on('request', (r) => { if (r.url().includes('/api/sync/uploads')) sent = { url: r.url(), type: r.headers()['content-type'] }; });
    await page.getByTestId('upload-kind').selectOption('ics');
    await page.getByTestId('upload-file').setInputFiles({ name: 'trip.ics', mimeType: 'text/calendar',
      buffer: Buffer.from(['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//e2e//EN', 'BEGIN:VEVENT', 'UID:e2e-trip-1',
        'DTSTAMP:20261201T090000Z', 'DTSTART:20261230T090000Z', 'DTEND:20261230T100000Z', 'SUMMARY:Sailing lesson at Hydra',
        'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n')) });
    await page.getByTestId('upload-submit').click();
    await page.getByTestId('sync-source').locator('.sync-name').filter({ hasText: 'Calendar file (.ics): trip.ics' }).waitFor();
    const u = new URL(sent.url);
    assert(u.searchParams.get('kind') === 'ics' && u.searchParams.get('name') === 'Calendar file (.ics): trip.ics', 'kind and name: ' + sent.url);
    assert(sent.type === 'text/calendar', 'the raw file as the body: ' + sent.type);
    await waitUntil(async () => (await call(base, 'GET', '/api/memories/search?query=Hydra', undefined, a.token)).json.memories
      .some((m) => m.content.includes('Sailing lesson at Hydra')), 'the uploaded event in search');
    // A file the server refuses: its message is shown, nothing is added.
    const before = await page.getByTestId('sync-source').count();
    await page.getByTestId('upload-kind').selectOption('markdown_zip');
    await page.getByTestId('upload-file').setInputFiles({ name: 'notes.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') });
    await page.getByTestId('upload-submit').click();
    await page.getByTestId('sync-upload').getByRole('alert').waitFor();
    assert((await page.getByTestId('sync-source').count()) === before, 'a refused upload adds no source');
  });

  await step('no page errors or CSP violations', page, async () => {
    assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join(' | '));
  });

  // ---- phone ----
  const phone = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const mp = await phone.newPage();
  mp.setDefaultTimeout(15_000);
  await step('phone: compact header, menu with Log out, chips in one row', mp, async () => {
    await login(mp, a.email);
    const h = await mp.locator('header.top').evaluate((e) => e.getBoundingClientRect().height);
    assert(h <= 60, 'header height ' + h);
    await noHorizontalOverflow(mp);
    assert(!(await mp.getByTestId('logout').isVisible()), 'links are in the menu');
    await mp.getByTestId('menu').tap();
    for (const name of ['Tokens', 'Settings']) assert(await mp.getByRole('link', { name, exact: true }).isVisible(), name + ' in the menu');
    assert(await mp.getByTestId('logout').isVisible(), 'Log out in the menu');
    await mp.getByRole('link', { name: 'Tokens', exact: true }).tap();
    await mp.getByRole('heading', { name: 'API tokens' }).waitFor();
    assert(!(await mp.getByTestId('logout').isVisible()), 'the menu closes after navigating');
    await mp.goto('/search?q=passport');
    const chips = mp.locator('main .chips').first();
    await chips.waitFor();
    const rows = await chips.evaluate((e) => new Set([...e.children].map((c) => c.getBoundingClientRect().top)).size);
    assert(rows === 1, 'filter chips in one row: ' + rows);
    await noHorizontalOverflow(mp);
  });

  await step('phone: Enter is a new line, Save saves; tap on a card with a link opens it; long cards have more', mp, async () => {
    await mp.goto('/');
    const box = mp.getByTestId('capture-input');
    await box.tap();
    await mp.keyboard.type('phone line one');
    await mp.keyboard.press('Enter');
    await mp.keyboard.type('phone line two');
    assert((await box.inputValue()) === 'phone line one\nphone line two', 'Enter made a new line: ' + JSON.stringify(await box.inputValue()));
    await mp.getByTestId('capture-submit').tap();
    await memoryItem(mp, 'phone line two').waitFor();
    const long = memoryItem(mp, 'Line 1 of a very long');
    await long.getByTestId('card-more').tap();
    await long.getByText('Line 40 of').waitFor();
    const popups = [];
    mp.on('popup', (p) => popups.push(p));
    await memoryItem(mp, 'Bookmark:').getByRole('link', { name: 'the recipe site' }).tap();
    await waitUntil(() => mp.url().includes('/memories/' + seeded.tap.id), 'the memory opened, not the link');
    assert(popups.length === 0, 'the link did not open');
  });

  await step('phone: chat input pinned, tokens Revoke visible', mp, async () => {
    await mp.goto('/chat');
    const form = mp.locator('.chat-form');
    await form.waitFor();
    const pos = await form.evaluate((e) => getComputedStyle(e).position);
    assert(pos === 'sticky' || pos === 'fixed', 'chat input pinned: ' + pos);
    const r = await call(base, 'POST', '/api/auth/tokens', { name: 'phone script with a rather long name', scope: 'read' }, a.token);
    assert(r.status === 201 || r.status === 200, 'token made: ' + r.status + ' ' + r.text.slice(0, 100));
    await mp.goto('/tokens');
    const revoke = mp.getByRole('button', { name: 'Revoke' }).first();
    await revoke.waitFor();
    const box = await revoke.boundingBox();
    assert(box && box.x >= 0 && box.x + box.width <= 360, 'Revoke inside the screen: ' + JSON.stringify(box));
    await noHorizontalOverflow(mp);
  });
  await phone.close();

  // ---- dark mode ----
  const dark = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  const dp = await dark.newPage();
  dp.setDefaultTimeout(15_000);
  await step('dark mode: dark page, form controls in the app colours', dp, async () => {
    await login(dp, a.email);
    const c = await dp.evaluate(() => {
      const rgb = (s) => s.match(/\d+/g).slice(0, 3).map(Number);
      const lum = (s) => rgb(s).reduce((x, y) => x + y, 0) / 3;
      const box = document.querySelector('[data-testid=capture-input]');
      const sel = document.querySelector('[data-testid=capture-type]');
      const panel = getComputedStyle(document.querySelector('.capture')).backgroundColor;
      return { body: lum(getComputedStyle(document.body).backgroundColor), box: getComputedStyle(box).backgroundColor,
        sel: getComputedStyle(sel).backgroundColor, panel, text: lum(getComputedStyle(box).color) };
    });
    assert(c.body < 60 && c.text > 180, 'dark page, light text: ' + JSON.stringify(c));
    assert(c.box === c.panel && c.sel === c.panel, 'inputs use the panel colour: ' + JSON.stringify(c));
  });

  // ---- offline reload of the Sync page (service worker on) ----
  const pwa = await browser.newContext({ baseURL: base, serviceWorkers: 'allow', viewport: { width: 1280, height: 800 } });
  const pp = await pwa.newPage();
  pp.setDefaultTimeout(15_000);
  await step('sync offline: a reload shows the sources as last seen', pp, async () => {
    await login(pp, a.email);
    await pp.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await waitUntil(() => pp.evaluate(() => !!navigator.serviceWorker.controller) || pp.reload().then(() => false), 'the service worker');
    await pp.goto('/sync');
    await pp.getByTestId('sync-source').first().waitFor();
    await pwa.setOffline(true);
    try {
      await pp.reload();
      await pp.getByTestId('sync-stale').waitFor();
      await pp.getByTestId('sync-source').filter({ hasText: 'holiday.ics' }).waitFor();
    } finally {
      await pwa.setOffline(false);
    }
  });
  await pwa.close();

  // ---- axe-core and screenshots of every page ----
  const pages = [
    ['login', '/login', false], ['register', '/register', false], ['timeline', '/', true], ['search', '/search?q=passport', true],
    ['memory', '/memories/' + seeded.heading.id, true], ['not-found', '/memories/00000000-0000-4000-8000-000000000000', true],
    ['chat', '/chat', true], ['stats', '/stats', true], ['sync', '/sync', true], ['tokens', '/tokens', true],
    ['settings', '/settings', true], ['security', '/settings/security', true],
  ];
  // Light at both widths with every axe rule; dark at 1280 with the colour
  // rules (what dark mode changes), to keep the run short.
  for (const [scheme, w, h, rules] of [['light', 1280, 800, null], ['light', 360, 740, null], ['dark', 1280, 800, ['color-contrast']]]) {
    const c = await browser.newContext({ baseURL: base, serviceWorkers: 'block', viewport: { width: w, height: h }, colorScheme: scheme,
      bypassCSP: true, isMobile: w < 500, hasTouch: w < 500 });
    const p = await c.newPage();
    p.setDefaultTimeout(15_000);
    await step(`axe and screenshots: every page, ${w}x${h} ${scheme}`, null, async () => {
      const bad = [];
      let signedIn = false;
      for (const [name, url, auth] of pages) {
        if (auth && !signedIn) {
          await login(p, a.email);
          signedIn = true;
        }
        // In-app navigation (the router follows popstate): no reload, so
        // axe is injected once per sign-in state and the run stays short.
        if (!(await p.evaluate(() => !!window.axe))) {
          await p.goto(url);
          await p.evaluate(AXE);
        } else {
          await p.evaluate((u) => {
            history.pushState(null, '', u);
            window.dispatchEvent(new PopStateEvent('popstate'));
          }, url);
        }
        await waitUntil(async () => new URL(p.url()).pathname === new URL(url, base).pathname, 'the route ' + url);
        await p.locator('main h1').first().waitFor({ state: 'attached' });
        await waitUntil(async () => (await p.getByText('Loading…').count()) === 0, 'the page to load');
        const r = await p.evaluate((only) => window.axe.run(document, { resultTypes: ['violations'], ...(only ? { runOnly: only } : {}) }), rules);
        for (const v of r.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical'))
          bad.push(`${name}: ${v.id} (${v.impact}) ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
        await p.screenshot({ path: path.join(ARTIFACTS, `pages-${name}-${w}-${scheme}.png`), fullPage: true });
      }
      assert(bad.length === 0, 'axe violations:\n  ' + bad.join('\n  '));
    }, 180_000);
    await c.close();
  }

  await browser.close();
  return finish();
}

run(main);
