// User content -> safe DOM: Markdown through marked, then DOMPurify (no
// scripts, handlers, javascript: URLs, forms or frames), then optional
// highlighting of search terms in the text nodes.
import { marked } from 'marked';
import DOMPurify from 'dompurify';

marked.setOptions({ gfm: true, breaks: true });

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'video', 'audio'],
  FORBID_ATTR: ['style'],
  RETURN_DOM_FRAGMENT: true,
};

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Words of a search query worth highlighting: no filters (key:value), no
// exclusions (-word), quotes dropped.
export function highlightTerms(query) {
  if (!query) return [];
  const out = [];
  const re = /"([^"]+)"|(\S+)/g;
  let m;
  while ((m = re.exec(query))) {
    const t = m[1] || m[2];
    if (!m[1] && (/^[a-z_]+:/i.test(t) || t.startsWith('-'))) continue;
    for (const w of t.split(/\s+/)) if (w.length > 1 || /\w/.test(w)) out.push(w);
  }
  return out;
}

function highlight(root, terms) {
  if (!terms.length) return;
  const re = new RegExp('(' + terms.map(escapeRe).join('|') + ')', 'gi');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const n of nodes) {
    const text = n.nodeValue;
    re.lastIndex = 0;
    if (!re.test(text)) continue;
    const frag = document.createDocumentFragment();
    let last = 0;
    text.replace(re, (match, _g, offset) => {
      if (offset > last) frag.appendChild(document.createTextNode(text.slice(last, offset)));
      const mark = document.createElement('mark');
      mark.textContent = match;
      frag.appendChild(mark);
      last = offset + match.length;
      return match;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    n.parentNode.replaceChild(frag, n);
  }
}

// Headings written in a memory sit below the page's own h1 and section
// h2: `#` becomes h3, `##` h4, and so on (h6 at most), keeping their text.
function demoteHeadings(root) {
  for (const h of root.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const level = Math.min(6, Number(h.tagName[1]) + 2);
    const n = document.createElement('h' + level);
    n.append(...h.childNodes);
    h.replaceWith(n);
  }
}

// Returns a sanitized DocumentFragment for `text` (Markdown).
export function renderMarkdown(text, terms = []) {
  const html = marked.parse(String(text || ''), { async: false });
  const frag = /** @type {DocumentFragment} */ (/** @type {unknown} */ (DOMPurify.sanitize(html, PURIFY)));
  demoteHeadings(frag);
  highlight(frag, terms);
  return frag;
}

// The words of `text` (Markdown) without its markup, blocks separated by a
// space: for one-line snippets (citations, titles, link lists).
export function plainText(text) {
  const frag = renderMarkdown(text);
  frag.querySelectorAll('p, li, h1, h2, h3, h4, h5, h6, br, pre, blockquote, tr, td, th').forEach((e) => e.append(' '));
  return frag.textContent;
}
