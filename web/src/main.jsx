// The app shell: session, routes, header with search, keyboard shortcuts,
// toasts, the outbox flusher and the service worker.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './style.css';
import { api, getSession, clearSession } from './lib/api.js';
import { startReminders, stopReminders } from './lib/reminders.js';
import { flush, pending, outboxChanged } from './lib/outbox.js';
import { currentUserId, forgetAccount, dropLegacy, dropApiCaches, load as loadStored, save as saveStored } from './lib/store.js';
import { setTimeZone } from './lib/memories.js';
import { useLocation, navigate, match, Link } from './lib/router.jsx';
import { toast } from './lib/toast.js';
import { ErrorBoundary, Toasts, lazy } from './components.jsx';
import { Auth } from './pages/Auth.jsx';
import { Timeline } from './pages/Timeline.jsx';
import { Search, searchUrl } from './pages/Search.jsx';
import { Detail } from './pages/Detail.jsx';
import { Chat } from './pages/Chat.jsx';
import { Settings } from './pages/Settings.jsx';
import { Tokens } from './pages/Tokens.jsx';
import { Share } from './pages/Share.jsx';
import { sharedCount } from './lib/shareinbox.js';
import { startLiveEvents, stopLiveEvents } from './lib/events.js';

// Pages added with the sync, sharing and encryption APIs load on first use,
// so the first load stays small.
const Sync = lazy(() => import('./pages/Sync.jsx'), 'Sync');
const Recover = lazy(() => import('./pages/Recover.jsx'), 'Recover');
const Security = lazy(() => import('./pages/Security.jsx'), 'Security');
// Stats brings the chart (uPlot) and graph (cytoscape) libraries.
const Stats = lazy(() => import('./pages/Stats.jsx'), 'Stats');
// Plugins (docs/PLUGINS.md), reached from Settings.
const Plugins = lazy(() => import('./pages/Plugins.jsx'), 'Plugins');
// Export & import (docs/EXPORT.md), reached from Settings.
const Export = lazy(() => import('./pages/Export.jsx'), 'Export');

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
  // Phones: the links live behind a Menu button (the header stays one row).
  const [menu, setMenu] = useState(false);
  useEffect(() => setMenu(false), [path]);
  useEffect(() => {
    if (!menu) return;
    const esc = (e) => e.key === 'Escape' && setMenu(false);
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, [menu]);
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
      <button type="button" class="menu-toggle ghost" aria-expanded={menu} aria-controls="main-nav" data-testid="menu"
        onClick={() => setMenu(!menu)}>
        <span aria-hidden="true">☰</span> Menu
      </button>
      <nav aria-label="Main" id="main-nav" class={menu ? 'open' : ''}>
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

// Logging out with captures still waiting to be sent: keep them on this
// browser for this account only (sent when it signs in here again; no
// other account can list or send them), or discard them now.
function LogoutDialog({ count, onChoose }) {
  const first = useRef(null);
  useEffect(() => {
    first.current && first.current.focus();
    const esc = (e) => e.key === 'Escape' && onChoose(null);
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, []);
  const n = count === 1 ? '1 memory has' : count + ' memories have';
  return (
    <div class="dialog-backdrop">
      <div class="dialog panel" role="alertdialog" aria-modal="true" aria-labelledby="logout-title" aria-describedby="logout-text" data-testid="logout-dialog">
        <h2 id="logout-title">Log out with unsent memories?</h2>
        <p id="logout-text">{n} not been sent yet. Keep them on this browser for your account only:
          they are sent the next time you sign in here, and no other account can see or send them.
          Or discard them now.</p>
        <div class="row">
          <button type="button" class="primary" ref={first} data-testid="logout-keep" onClick={() => onChoose('keep')}>Keep and log out</button>
          <button type="button" class="danger" data-testid="logout-discard" onClick={() => onChoose('discard')}>Discard and log out</button>
          <button type="button" class="ghost" onClick={() => onChoose(null)}>Cancel</button>
        </div>
      </div>
    </div>
  );
}

dropLegacy();

function App() {
  const { path, query } = useLocation();
  const [user, setUser] = useState(() => getSession()?.user || null);
  const [notice, setNotice] = useState(null);
  const [online, setOnline] = useState(navigator.onLine);
  const [asking, setAsking] = useState(0);
  const [tick, setTick] = useState(0); // re-render after the time zone is known // unsent items while the logout dialog is open
  const signedIn = !!(user && getSession());
  const uid = signedIn ? currentUserId() : null;

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
    // Another tab signed in, out, or as someone else: this tab's state
    // (drafts on screen, the outbox) belongs to the old account. Start over.
    const shared = (e) => {
      if (e.key !== 'pos.session') return;
      const was = e.oldValue ? JSON.parse(e.oldValue)?.user?.id : null;
      const now = e.newValue ? JSON.parse(e.newValue)?.user?.id : null;
      if (String(was) !== String(now)) location.reload();
    };
    window.addEventListener('storage', shared);
    return () => {
      window.removeEventListener('storage', shared);
      window.removeEventListener('pos:session-lost', lost);
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
      clearInterval(timer);
    };
  }, []);

  useEffect(() => {
    if (uid) startReminders();
    else stopReminders();
    return stopReminders;
  }, [uid]);

  // Live events (docs/EVENTS.md): followed while signed in.
  useEffect(() => {
    if (uid) startLiveEvents();
    else stopLiveEvents();
    return stopLiveEvents;
  }, [uid]);

  useEffect(() => {
    outboxChanged();
    if (uid && pending().length) flush();
    // The account's time zone setting (settings.timezone), known at once
    // from the last visit, then from the server.
    setTimeZone(uid ? loadStored('timezone', '') : '');
    if (uid)
      api('GET', '/api/auth/me').then((u) => {
        const tz = (u.settings && typeof u.settings.timezone === 'string' && u.settings.timezone) || '';
        if (tz !== loadStored('timezone', '')) {
          saveStored('timezone', tz);
          setTimeZone(tz);
          setTick((n) => n + 1);
        }
      }, () => {});
  }, [uid]);

  // Routing guards: signed-out users see login/register only.
  const authPage = path === '/login' || path === '/register' || path === '/recover';
  useEffect(() => {
    // A share arriving signed out waits in the share inbox (lib/shareinbox.js).
    if (!signedIn && path === '/share') setNotice('Sign in to save what you shared; it is kept on this device until then.');
    if (!signedIn && !authPage) navigate('/login', { replace: true });
    if (signedIn && authPage) navigate('/', { replace: true });
  }, [signedIn, authPage]);

  // Signed in with a share waiting (shared while signed out, or not yet
  // saved): the share page shows it.
  useEffect(() => {
    if (uid) sharedCount().then((n) => n > 0 && location.pathname !== '/share' && navigate('/share'), () => {});
  }, [uid]);

  // Logout forgets everything this browser keeps for the account (drafts,
  // cached answers); unsent captures only if the user says so.
  const finishLogout = async (keepOutbox) => {
    const who = currentUserId();
    const kept = keepOutbox ? pending().length : 0;
    try {
      await api('POST', '/api/auth/logout');
    } catch {
      /* the local session ends regardless */
    }
    clearSession();
    forgetAccount(who, keepOutbox ? ['outbox'] : []);
    try {
      sessionStorage.clear();
    } catch {
      /* unavailable */
    }
    await dropApiCaches();
    outboxChanged();
    setUser(null);
    setNotice(kept ? `You have logged out. ${kept === 1 ? '1 unsent memory is' : kept + ' unsent memories are'} kept on this browser and will be sent when you sign in again.`
      : 'You have logged out.');
    navigate('/login', { replace: true });
  };
  const logout = () => {
    const n = pending().length;
    if (n) setAsking(n);
    else finishLogout(false);
  };
  const chooseLogout = (choice) => {
    setAsking(0);
    if (choice) finishLogout(choice === 'keep');
  };

  if (!signedIn)
    return (
      <ErrorBoundary>
        {path === '/recover' ? <Recover onDone={setNotice} /> : (
          <Auth key={path} mode={path === '/register' ? 'register' : 'login'} notice={notice}
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
  else if (path === '/plugins') page = <Plugins />;
  else if (path === '/settings/export') page = <Export />;
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
      <ErrorBoundary key={(uid || '') + '/' + tick + '/' + path.split('/')[1]}>{page}</ErrorBoundary>
      {asking > 0 && <LogoutDialog count={asking} onChoose={chooseLogout} />}
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
