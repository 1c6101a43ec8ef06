// The service worker: context menus, the keyboard shortcut, the offline
// queue's timer, and the saves the popup asks for.
import { flush, save } from './api.js';
import { linkBody, pageBody, readTab, selectionBody } from './capture.js';
import { FILE_LINK_PATTERNS, saveFileUrl } from './files.js';

const MENUS = [
  { id: 'pos-save-page', title: 'Save page to PersonalOS', contexts: ['page'] },
  { id: 'pos-save-selection', title: 'Save selection to PersonalOS', contexts: ['selection'] },
  { id: 'pos-save-link', title: 'Save link to PersonalOS', contexts: ['link'] },
  // files (files.js): the extension fetches the bytes and uploads them
  { id: 'pos-save-image', title: 'Save image to PersonalOS', contexts: ['image'] },
  { id: 'pos-save-file', title: 'Save linked file to PersonalOS', contexts: ['link'], targetUrlPatterns: FILE_LINK_PATTERNS },
];

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.removeAll(() => {
    for (const m of MENUS) chrome.contextMenus.create(m);
  });
  chrome.alarms.create('pos-flush', { periodInMinutes: 1 });
});
chrome.runtime.onStartup.addListener(() => flush().catch(() => {}));
chrome.alarms.onAlarm.addListener((a) => {
  if (a.name === 'pos-flush') flush().catch(() => {});
});

function badge(text, color) {
  chrome.action.setBadgeBackgroundColor({ color });
  chrome.action.setBadgeText({ text });
  setTimeout(() => chrome.action.setBadgeText({ text: '' }), 4000);
}

async function report(p) {
  try {
    const r = await p;
    badge(r.queued ? '…' : '✓', r.queued ? '#b26b00' : '#1a7f37');
    return r;
  } catch (e) {
    badge('!', '#c62828');
    throw e;
  }
}

// Saves a tab: its selection when there is one, else the readable page.
export async function saveTab(tabId) {
  const page = await readTab(tabId);
  if (page.selection && page.selection.trim()) return report(save(selectionBody(page.selection, page)));
  return report(save(pageBody(page), page.url));
}

export async function savePage(tabId) {
  const page = await readTab(tabId);
  return report(save(pageBody(page), page.url));
}

// An image or a linked file: fetched here, uploaded as a file memory. Not
// queued offline (a file may be large); the badge says it failed.
export function saveFile(url) {
  return report(saveFileUrl(url));
}

// The context menu's handler; returns the save's promise (for tests).
export function onMenu(info, tab) {
  const page = { url: info.pageUrl || (tab && tab.url) || '', title: (tab && tab.title) || '' };
  if (info.menuItemId === 'pos-save-page' && tab) return savePage(tab.id);
  if (info.menuItemId === 'pos-save-selection') return report(save(selectionBody(info.selectionText || '', page)));
  if (info.menuItemId === 'pos-save-link') return report(save(linkBody(info.linkUrl, info.selectionText || '', page.url), info.linkUrl));
  if (info.menuItemId === 'pos-save-image') return saveFile(info.srcUrl);
  if (info.menuItemId === 'pos-save-file') return saveFile(info.linkUrl);
  return Promise.resolve(null);
}
chrome.contextMenus.onClicked.addListener((info, tab) => {
  onMenu(info, tab).catch(() => {});
});

chrome.commands.onCommand.addListener(async (command, tab) => {
  if (command !== 'save-page') return;
  const t = tab || (await chrome.tabs.query({ active: true, currentWindow: true }))[0];
  if (t) saveTab(t.id).catch(() => {});
});

// Messages from the popup: { type: 'save-tab', tabId } and { type: 'flush' }.
chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
  const run = msg.type === 'save-tab' ? saveTab(msg.tabId) : msg.type === 'flush' ? flush() : Promise.reject(new Error('unknown message'));
  run.then((r) => reply({ ok: true, result: r }), (e) => reply({ ok: false, error: e.message, code: e.code }));
  return true; // answers asynchronously
});

// For tests and the devtools console.
globalThis.pos = { saveTab, savePage, flush, saveFile, onMenu };
