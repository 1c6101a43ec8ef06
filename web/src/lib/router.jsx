// A tiny history-API router: the path is state; links call navigate().
import { useEffect, useState } from 'preact/hooks';

const subs = new Set();

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
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
