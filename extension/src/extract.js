// Injected into a page (built as one IIFE, dist/extract.js): defines
// globalThis.__posExtract(), which returns the page's readable text
// (Mozilla Readability on a copy of the DOM), title, URL and selection.
import { Readability } from '@mozilla/readability';

globalThis.__posExtract = () => {
  const selection = String(window.getSelection ? window.getSelection() : '');
  let article = null;
  try {
    article = new Readability(document.cloneNode(true)).parse();
  } catch {
    article = null;
  }
  const text = (article && article.textContent ? article.textContent : document.body ? document.body.innerText : '')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return {
    url: location.href,
    title: (article && article.title) || document.title || location.href,
    site: (article && article.siteName) || location.hostname,
    excerpt: (article && article.excerpt) || '',
    text,
    selection,
  };
};
