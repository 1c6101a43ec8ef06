// The PWA share target. The manifest's share_target is POST /share
// (multipart/form-data: title, text, url, files); the service worker keeps
// what was shared in Cache Storage (lib/shareinbox.js) and sends the
// browser here (/share?inbox=...). Shared text or a link alone is saved at
// once as before (a memory with source "share", the link in metadata.url)
// and opens; files are listed with the server's upload limits
// (GET /api/files/limits) and uploaded on "Save", each as a `file` memory
// (POST /api/files?source=share, with progress). Signed out, the share
// waits in the inbox and this page opens after sign-in (main.jsx).
// GET /share?title&text&url (the old share target) still works.
import { useEffect, useState } from 'preact/hooks';
import { api, upload, qs } from '../lib/api.js';
import { enqueue } from '../lib/outbox.js';
import { navigate, Link } from '../lib/router.jsx';
import { toast } from '../lib/toast.js';
import { forget, forgetAll, listShared, putMeta, sharedBlob } from '../lib/shareinbox.js';
import { UploadProgress } from './Files.jsx';

// The memory body for shared title/text/url, or null when nothing came.
export function shareBody(query) {
  const title = (query.get('title') || '').trim();
  const text = (query.get('text') || '').trim();
  let url = (query.get('url') || '').trim();
  // Many apps (Android) put the link inside `text` and leave `url` empty.
  if (!url) url = (text.match(/https?:\/\/\S+/) || [''])[0];
  const parts = [title, text, url && !text.includes(url) ? url : ''].filter(Boolean);
  if (!parts.length) return null;
  const body = { content: parts.join('\n'), type: 'note', source: 'share', tags: ['shared'] };
  if (url) body.metadata = { url, title };
  return body;
}

const metaQuery = (meta) => new URLSearchParams({ title: meta.title || '', text: meta.text || '', url: meta.url || '' });

export const size = (n) => (n >= 1073741824 ? (n / 1073741824).toFixed(1) + ' GB' : n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.max(1, Math.round(n / 1024)) + ' KB');

// The link a file was shared with, when it is one the server keeps (http(s)).
const linkOf = (meta) => {
  const body = meta && shareBody(metaQuery(meta));
  const u = body && body.metadata ? body.metadata.url : '';
  // what the server accepts: http(s), at most 2048 bytes, no spaces or control characters
  // eslint-disable-next-line no-control-regex
  return u && u.length <= 2048 && /^https?:\/\/[^\s\x00-\x1f\x7f]+$/i.test(u) ? u : undefined;
};

// The note a share makes, or null: text or a link shared alone as before;
// with files, only text of its own (a link or a title that came with the
// files goes with them: the link as each file memory's metadata.url).
function noteOf(item) {
  const body = item.meta && !item.meta.noted ? shareBody(metaQuery(item.meta)) : null;
  if (!body || !item.files.length) return body;
  const text = (item.meta.text || '').replace(/https?:\/\/\S+/g, '').trim();
  return text ? body : null;
}

// Saves a text share as a note; the memory, or null when it went to the outbox.
async function saveText(body) {
  try {
    return await api('POST', '/api/memories', body);
  } catch (e) {
    if (!e.retryable) throw e;
    enqueue(body);
    return null;
  }
}

// The old share target: GET /share?title&text&url.
function ShareQuery({ query }) {
  const [state, setState] = useState('saving');
  useEffect(() => {
    const body = shareBody(query);
    if (!body) {
      setState('empty');
      return;
    }
    saveText(body).then(
      (m) => {
        if (m) {
          toast('Saved what you shared.');
          navigate('/memories/' + m.id, { replace: true });
        } else {
          toast('Offline: what you shared waits in the outbox.');
          navigate('/', { replace: true });
        }
      },
      (e) => setState(e.message),
    );
  }, []);
  return (
    <>
      {state === 'saving' && <p role="status">Saving what you shared…</p>}
      {state === 'empty' && <p>Nothing was shared. <Link href="/">Back to the timeline</Link></p>}
      {state !== 'saving' && state !== 'empty' && <p role="alert">Could not save: {state}</p>}
    </>
  );
}

// Files and texts waiting in the inbox.
function ShareInbox() {
  const [items, setItems] = useState(null); // null: loading
  const [limits, setLimits] = useState(null);
  const [limitsError, setLimitsError] = useState(null);
  const [progress, setProgress] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState([]);

  const reload = () => listShared().then(setItems, () => setItems([]));

  useEffect(() => {
    (async () => {
      let list = await listShared().catch(() => []);
      // a share whose note was saved and whose files are all sent is done
      for (const i of list) if (i.meta && i.meta.noted && !i.files.length) await forget(i.metaKey);
      list = list.filter((i) => !(i.meta && i.meta.noted && !i.files.length));
      // text or a link alone saves at once, as the share target always did
      if (list.length && list.every((i) => !i.files.length)) {
        const made = [];
        for (const i of list) {
          const body = i.meta && shareBody(metaQuery(i.meta));
          if (body) {
            try {
              const m = await saveText(body);
              if (m) made.push(m);
            } catch (e) {
              setError(e);
              setItems(await listShared().catch(() => []));
              return;
            }
          }
          // a share with files keeps its link for them until they are sent
        if (i.metaKey && i.files.length) await putMeta(i.metaKey, { ...i.meta, noted: true });
        else if (i.metaKey) await forget(i.metaKey);
        }
        if (made.length === 1) {
          toast('Saved what you shared.');
          navigate('/memories/' + made[0].id, { replace: true });
          return;
        }
        if (!made.length && list.some((i) => i.meta && shareBody(metaQuery(i.meta)))) {
          toast('Offline: what you shared waits in the outbox.');
          navigate('/', { replace: true });
          return;
        }
        setSaved(made);
        setItems([]);
        return;
      }
      setItems(list);
    })();
    api('GET', '/api/files/limits').then(setLimits, setLimitsError);
  }, []);

  if (items === null) return <p role="status">Reading what you shared…</p>;
  const files = items.flatMap((i) => i.files.map((f) => ({ ...f, meta: i.meta })));
  const texts = items.filter(noteOf);
  const dropped = items.reduce((n, i) => n + ((i.meta && i.meta.dropped) || 0), 0);
  if (!files.length && !texts.length)
    return saved.length ? (
      <div data-testid="share-done">
        <p role="status">Saved {saved.length} {saved.length === 1 ? 'memory' : 'memories'}.</p>
        <ul>{saved.map((m) => <li key={m.id}><Link href={'/memories/' + m.id}>{(m.content || '').split('\n')[0] || m.id}</Link></li>)}</ul>
      </div>
    ) : (
      <p>Nothing was shared. <Link href="/">Back to the timeline</Link></p>
    );

  const fileMax = limits ? limits.file_max : 0;
  const left = limits && limits.quota_bytes > 0 ? Math.max(0, limits.quota_bytes - limits.used_bytes) : Infinity;
  const tooBig = (f) => fileMax > 0 && f.size > fileMax;
  const sendable = files.filter((f) => !tooBig(f));
  const total = sendable.reduce((n, f) => n + f.size, 0);
  const overQuota = total > left;

  const save = async () => {
    setBusy(true);
    setError(null);
    const made = [...saved];
    try {
      for (const i of items) {
        const body = noteOf(i);
        if (body) {
          const m = await saveText(body);
          if (m) made.push(m);
        }
        // a share with files keeps its link for them until they are sent
        if (i.metaKey && i.files.length) await putMeta(i.metaKey, { ...i.meta, noted: true });
        else if (i.metaKey) await forget(i.metaKey);
      }
      for (const f of sendable) {
        setProgress({ name: f.name, fraction: 0 });
        const blob = await sharedBlob(f.key);
        const path = '/api/files' + qs({ name: f.name, source: 'share', tags: 'shared', url: linkOf(f.meta) });
        const m = await upload(path, blob, (sent, all) => setProgress({ name: f.name, fraction: all ? sent / all : 0 }));
        made.push(m);
        await forget(f.key);
      }
      // files over the limit were shown as such and are not kept
      for (const f of files.filter(tooBig)) await forget(f.key);
      for (const i of items) if (i.metaKey) await forget(i.metaKey);
      setProgress(null);
      if (made.length === 1) {
        toast('Saved what you shared.');
        navigate('/memories/' + made[0].id, { replace: true });
        return;
      }
      setSaved(made);
      await reload();
    } catch (e) {
      setProgress(null);
      setSaved(made);
      setError(e);
      await reload();
    } finally {
      setBusy(false);
    }
  };
  const discard = async () => {
    await forgetAll();
    toast('Discarded what was shared.');
    navigate('/', { replace: true });
  };

  return (
    <div data-testid="share-inbox">
      <p class="muted small" data-testid="share-limits">
        {limits
          ? <>Files up to {size(limits.file_max)} each{left !== Infinity && <>; {size(left)} left in your account</>}.</>
          : limitsError ? 'The server cannot be reached: what you shared is kept on this device until you save it.' : 'Checking the upload limit…'}
      </p>
      {texts.length > 0 && (
        <ul class="share-texts">
          {texts.map((i) => <li key={i.batch} data-testid="share-text">{noteOf(i).content}</li>)}
        </ul>
      )}
      {files.length > 0 && (
        <ul class="share-files">
          {files.map((f) => (
            <li key={f.key} data-testid="share-file">
              {f.name} <span class="muted small">· {size(f.size)}{f.type ? ' · ' + f.type : ''}</span>
              {tooBig(f) && <strong class="small" data-testid="share-too-big"> · too large: the limit is {size(fileMax)}; it will not be sent</strong>}
            </li>
          ))}
        </ul>
      )}
      {dropped > 0 && <p class="small" role="status">{dropped} more {dropped === 1 ? 'file was' : 'files were'} not kept (at most 20 files per share).</p>}
      {overQuota && <p class="error small" role="alert">These files ({size(total)}) need more than the {size(left)} left in your account.</p>}
      <UploadProgress p={progress} />
      {error && <p role="alert" class="error">Could not save: {error.message}</p>}
      <div class="row">
        <button type="button" class="primary" data-testid="share-save" disabled={busy || !limits || overQuota || (!sendable.length && !texts.length)} onClick={save}>
          {busy ? 'Saving…' : 'Save to PersonalOS'}
        </button>
        <button type="button" class="ghost" data-testid="share-discard" disabled={busy} onClick={discard}>Discard</button>
      </div>
    </div>
  );
}

export function Share({ query }) {
  const legacy = ['title', 'text', 'url'].some((k) => query.get(k));
  return (
    <main id="main" class="panel">
      <h1>Share</h1>
      {query.get('error') === 'unreadable' && <p role="alert">What was shared could not be read.</p>}
      {query.get('error') === 'unsaved' && <p role="alert">What was shared could not be kept on this device (is its storage full?).</p>}
      {legacy ? <ShareQuery query={query} /> : <ShareInbox />}
    </main>
  );
}
