// The PWA share target (manifest `share_target`: GET /share?title&text&url):
// what another app shares with PersonalOS becomes a memory (source
// "share", the link in metadata.url), then that memory's page opens.
// Offline, it goes to the outbox like any capture.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { enqueue } from '../lib/outbox.js';
import { navigate, Link } from '../lib/router.jsx';
import { toast } from '../lib/toast.js';

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

export function Share({ query }) {
  const [state, setState] = useState('saving');
  useEffect(() => {
    const body = shareBody(query);
    if (!body) {
      setState('empty');
      return;
    }
    api('POST', '/api/memories', body).then(
      (m) => {
        toast('Saved what you shared.');
        navigate('/memories/' + m.id, { replace: true });
      },
      (e) => {
        if (e.retryable) {
          enqueue(body);
          toast('Offline: what you shared waits in the outbox.');
          navigate('/', { replace: true });
        } else setState(e.message);
      },
    );
  }, []);
  return (
    <section class="page">
      <h1>Share</h1>
      {state === 'saving' && <p role="status">Saving what you shared…</p>}
      {state === 'empty' && <p>Nothing was shared. <Link href="/">Back to the timeline</Link></p>}
      {state !== 'saving' && state !== 'empty' && <p role="alert">Could not save: {state}</p>}
    </section>
  );
}
