// What a save sends: the memory bodies for a page, a selection, a link and
// a quick note, and reading a tab's page (extract.js, injected).
import { cutBytes } from './api.js';

export function pageBody(page) {
  const text = (page.text || '').trim();
  const content = cutBytes(`${page.title || page.url}\n${page.url}\n\n${text}`);
  return {
    content,
    type: 'note',
    source: 'web',
    tags: ['web'],
    metadata: { url: page.url, title: page.title || '', site: page.site || '', excerpt: (page.excerpt || '').slice(0, 500), saved_as: 'page' },
  };
}

export function selectionBody(selection, page) {
  return {
    content: cutBytes(`${selection.trim()}\n\n— ${page.title || ''} ${page.url}`.trim()),
    type: 'note',
    source: 'web',
    tags: ['web', 'quote'],
    metadata: { url: page.url, title: page.title || '', saved_as: 'selection' },
  };
}

export function linkBody(linkUrl, linkText, pageUrl) {
  return {
    content: cutBytes(`${(linkText || '').trim() || linkUrl}\n${linkUrl}`),
    type: 'note',
    source: 'web',
    tags: ['web', 'link'],
    metadata: { url: linkUrl, found_on: pageUrl || '', saved_as: 'link' },
  };
}

export function noteBody(text) {
  return { content: cutBytes(text.trim()), type: 'note', source: 'web', tags: ['quick-capture'], metadata: { saved_as: 'quick_capture' } };
}

// Reads the readable text of a tab: Readability on a copy of its DOM.
export async function readTab(tabId) {
  await chrome.scripting.executeScript({ target: { tabId }, files: ['extract.js'] });
  const [res] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.__posExtract() });
  if (!res || !res.result) throw new Error('cannot read this page');
  return res.result;
}
