// The app shell: session, routes, header with search, keyboard shortcuts,
// toasts, the outbox flusher and the service worker.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './style.css';
import { api, getSession, clearSession } from './lib/api.js';
import { flush, pending } from './lib/outbox.js';
import { useLocation, navigate, match, Link } from './lib/router.jsx';
import { toast } from './lib/toast.js';
import { ErrorBoundary, Toasts, lazy } from './components.jsx';
import { Auth } from './pages/Auth.jsx';
import { Timeline } from './pages/Timeline.jsx';
import { Search, searchUrl } from './pages/Search.jsx';
import { Detail } from './pages/Detail.jsx';
import { Chat } from './pages/Chat.jsx';
import { Settings } from './pages/Settings.jsx';
import { Stats } from './pages/Stats.jsx';
import { Tokens } from './pages/Tokens.jsx';
import { Share } from './pages/Share.jsx';

// Pages added with the sync, sharing and encryption APIs load on first use,
// so the first load stays small.
const Sync = lazy(() => import('./pages/Sync.jsx'), 'Sync');
const Recover = lazy(() => import('./pages/Recover.jsx'), 'Recover');
const Security = lazy(() => import('./pages/Security.jsx'), 'Security');

const NAV = [
  ['/?capture=1', '+ Capture'],
  ['/', 'Timeline'],
  ['/chat', 'Chat'],
  ['/sync', 'Sync'],
  ['/stats', 'Stats'],
  ['/tokens', 'Tokens'],
  ['/settings', 'Settings'],
];

function Header({ path, query, user, onLogout }) {
  const input = useRef(null);
  const [q, setQ] = useState(path === '/search' ? query.get('q') || '' : '');
  useEffect(() => {
    if (path !== '/search') setQ('');
  }, [path]);

  // `/` or Ctrl/Cmd+K from anywhere focuses search.
  useEffect(() => {
    const onKey = (e) => {
      const t = e.target;
      const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
      const plain = !typing && !e.ctrlKey && !e.metaKey && !e.altKey;
      if ((e.key.toLowerCase() === 'k' && (e.ctrlKey || e.metaKey)) || (e.key === '/' && plain)) {
        e.preventDefault();
        input.current.focus();
        input.current.select();
      } else if (e.key === 'n' && plain) {
        // `n`: the capture box, from anywhere.
        e.preventDefault();
        navigate('/?capture=' + Date.now());
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onInput = (e) => {
    const v = e.target.value;
    setQ(v);
    const p = path === '/search' ? new URLSearchParams(query) : new URLSearchParams();
    p.set('q', v);
    navigate('/search?' + p.toString(), { replace: path === '/search' });
  };
  const onKeyDown = (e) => {
    if (e.key === 'Escape') {
      setQ('');
      e.target.blur();
      if (path === '/search') history.back();
    }
  };

  return (
    <header class="top">
      <a href="#main" class="skip">Skip to content</a>
      <Link href="/" class="brand" aria-label="PersonalOS home">
        <img src="/icon.svg" alt="" width="28" height="28" /> <span>PersonalOS</span>
      </Link>
      <form role="search" class="search" onSubmit={(e) => { e.preventDefault(); navigate(searchUrl(q)); }}>
        <label class="sr-only" for="search-input">Search memories (/ or Ctrl+K)</label>
        <input id="search-input" ref={input} data-testid="search-input" type="search" value={q}
          placeholder="Search  ( / )" autocomplete="off" onInput={onInput} onKeyDown={onKeyDown} />
      </form>
      <nav aria-label="Main">
        <ul>
          {NAV.map(([href, label]) => (
            <li key={href}>
              <Link href={href} title={href.startsWith('/?capture') ? 'Capture a memory (n)' : undefined}
                aria-current={href.startsWith('/?') ? undefined : (href === '/' ? path === '/' : path.startsWith(href)) ? 'page' : undefined}>{label}</Link>
            </li>
          ))}
          <li>
            <button type="button" class="ghost" data-testid="logout" onClick={onLogout} title={user ? 'Signed in as ' + user.email : ''}>
              Log out
            </button>
          </li>
        </ul>
      </nav>
    </header>
  );
}

function App() {
  const { path, query } = useLocation();
  const [user, setUser] = useState(() => getSession()?.user || null);
  const [notice, setNotice] = useState(null);
  const [online, setOnline] = useState(navigator.onLine);
  const signedIn = !!(user && getSession());

  useEffect(() => {
    const lost = (e) => {
      setUser(null);
      setNotice(e.detail || 'Please sign in again.');
      navigate('/login', { replace: true });
    };
    const on = () => {
      setOnline(true);
      flush().then((ms) => ms.length && toast(`Sent ${ms.length} saved ${ms.length === 1 ? 'memory' : 'memories'}.`));
    };
    const off = () => setOnline(false);
    window.addEventListener('pos:session-lost', lost);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    const timer = setInterval(() => pending().length && navigator.onLine && flush(), 20000);
    return () => {
      window.removeEventListener('pos:session-lost', lost);
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
      clearInterval(timer);
    };
  }, []);

  useEffect(() => {
    if (signedIn && pending().length) flush();
  }, [signedIn]);

  // Routing guards: signed-out users see login/register only.
  const authPage = path === '/login' || path === '/register' || path === '/recover';
  useEffect(() => {
    if (!signedIn && !authPage) navigate('/login', { replace: true });
    if (signedIn && authPage) navigate('/', { replace: true });
  }, [signedIn, authPage]);

  const logout = async () => {
    try {
      await api('POST', '/api/auth/logout');
    } catch {
      /* the local session ends regardless */
    }
    clearSession();
    setUser(null);
    setNotice('You have logged out.');
    navigate('/login', { replace: true });
  };

  if (!signedIn)
    return (
      <ErrorBoundary>
        {path === '/recover' ? <Recover onDone={setNotice} /> : (
          <Auth mode={path === '/register' ? 'register' : 'login'} notice={notice}
            onSignedIn={(u) => { setNotice(null); setUser(u); }} />
        )}
        <Toasts />
      </ErrorBoundary>
    );

  let page;
  let m;
  if (path === '/' || authPage) page = <Timeline query={query} focusCapture={query.get('capture')} />;
  else if (path === '/search') page = <Search query={query} />;
  else if ((m = match('/memories/:id', path))) page = <Detail id={m.id} />;
  else if (path === '/chat' || path === '/chat/') page = <Chat />;
  else if ((m = match('/chat/:id', path))) page = <Chat conversationId={m.id} />;
  else if (path === '/settings') page = <Settings onUser={setUser} />;
  else if (path === '/settings/security') page = <Security />;
  else if (path === '/sync') page = <Sync />;
  else if (path === '/stats') page = <Stats />;
  else if (path === '/tokens') page = <Tokens />;
  else if (path === '/share') page = <Share query={query} />; // PWA share target (clients)
  else page = (
    <main id="main" class="panel">
      <h1>Page not found</h1>
      <p>There is nothing at {path}. <Link href="/">Back to the timeline</Link></p>
    </main>
  );

  return (
    <>
      <Header path={path} query={query} user={user} onLogout={logout} />
      {!online && <p class="offline" role="status">You are offline. New memories are kept here and sent when you reconnect.</p>}
      <ErrorBoundary key={path.split('/')[1]}>{page}</ErrorBoundary>
      <Toasts />
    </>
  );
}

// Errors outside rendering (a failed promise nobody caught) become a notice.
window.addEventListener('unhandledrejection', (e) => {
  const msg = e.reason && e.reason.message ? e.reason.message : String(e.reason);
  toast('Something went wrong: ' + msg, { kind: 'error' });
});

render(<App />, document.getElementById('app'));

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}
