// A tiny history-API router: the path is state; links call navigate().
import { useEffect, useState } from 'preact/hooks';

const subs = new Set();
let guard = null; // () => message when leaving would lose something, else null

// A page with unsaved edits sets a guard; leaving (a link, Back, closing
// the tab) then asks first. Returns the function that removes it.
export function setLeaveGuard(f) {
  guard = f;
  return () => {
    if (guard === f) guard = null;
  };
}

function mayLeave() {
  const msg = guard && guard();
  if (!msg) return true;
  if (!window.confirm(msg)) return false;
  guard = null;
  return true;
}

window.addEventListener('beforeunload', (e) => {
  if (guard && guard()) {
    e.preventDefault();
    e.returnValue = '';
  }
});

// Back/Forward with unsaved edits: asked; "stay" puts the page back.
let here = location.pathname + location.search;
window.addEventListener('popstate', (e) => {
  if (!mayLeave()) {
    history.pushState(null, '', here);
    e.stopImmediatePropagation();
    return;
  }
  here = location.pathname + location.search;
});

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  if (!replace && !mayLeave()) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  here = location.pathname + location.search;
  for (const f of subs) f();
}

export function useLocation() {
  const [, force] = useState(0);
  useEffect(() => {
    const f = () => force((n) => n + 1);
    subs.add(f);
    window.addEventListener('popstate', f);
    return () => {
      subs.delete(f);
      window.removeEventListener('popstate', f);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

// <Link href="/chat">: a real link (middle-click, copy) that routes in place.
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={onClick} {...rest}>{children}</a>;
}

// match('/memories/:id', '/memories/abc') -> {id: 'abc'} or null
export function match(pattern, path) {
  const p = pattern.split('/'), s = path.replace(/\/$/, '').split('/');
  if (p.length !== s.length && !(path === '/' && pattern === '/')) return null;
  const out = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!s[i]) return null;
      out[p[i].slice(1)] = decodeURIComponent(s[i]);
    } else if (p[i] !== s[i]) return null;
  }
  return out;
}
