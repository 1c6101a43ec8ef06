// Chat with the assistant: streamed answers (Server-Sent Events over a
// POST fetch, so the token stays in a header), the memories used as
// citations, the list of conversations, and suggestions. A message that
// fails to send stays in the box with a way to retry.
import { useEffect, useRef, useState } from 'preact/hooks';
import { plainText } from '../lib/markdown.js';
import { api, ApiError } from '../lib/api.js';
import { navigate, Link } from '../lib/router.jsx';
import { snippet, fmtDate } from '../lib/memories.js';
import { load, save } from '../lib/store.js';
import { touchInput } from '../lib/touch.js';
import { Markdown, ErrorNote, PageTitle } from '../components.jsx';

const DRAFT = 'chat-draft'; // per account, lib/store.js

// Reads an SSE stream; calls onEvent(parsed JSON) for each `data:` event.
async function readSse(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const handle = (block) => {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!data || data === '[DONE]') return;
    try {
      onEvent(JSON.parse(data));
    } catch {
      /* a malformed event is skipped */
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      handle(buf.slice(0, i));
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
    }
  }
  if (buf.trim()) handle(buf);
}

function Citations({ ids }) {
  const [mems, setMems] = useState({});
  useEffect(() => {
    let live = true;
    Promise.all(ids.slice(0, 12).map((id) => api('GET', '/api/memories/' + id).catch(() => null))).then((rs) => {
      if (!live) return;
      const o = {};
      rs.forEach((m) => m && (o[m.id] = m));
      setMems(o);
    });
    return () => {
      live = false;
    };
  }, [ids.join(',')]);
  if (!ids.length) return null;
  return (
    <ol class="citations" aria-label="Memories used">
      {ids.map((id, i) => (
        <li key={id}>
          <Link href={'/memories/' + id} data-testid="chat-citation">
            [{i + 1}] {mems[id] ? snippet(plainText(mems[id].content), 80) : 'memory'}
          </Link>
        </li>
      ))}
    </ol>
  );
}

export function Chat({ conversationId = null }) {
  const [convs, setConvs] = useState(null);
  const [messages, setMessages] = useState([]);
  const [text, setText] = useState(() => String(load(DRAFT, '') || ''));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [failed, setFailed] = useState(null);
  const [unavailable, setUnavailable] = useState(false);
  const [suggestions, setSuggestions] = useState([]);
  const bottom = useRef(null);
  const created = useRef(null); // the conversation this screen just started

  useEffect(() => save(DRAFT, text), [text]);

  // A question that failed for want of a connection is sent again as soon
  // as the browser is back online.
  const retry = useRef(null);
  retry.current = () => failed && !busy && error && error.retryable && send(failed);
  useEffect(() => {
    const on = () => retry.current();
    window.addEventListener('online', on);
    return () => window.removeEventListener('online', on);
  }, []);

  const loadConvs = () =>
    api('GET', '/api/chat/history').then((r) => setConvs(r.conversations || []), (e) => {
      if (e.status === 404) setUnavailable(true);
      setConvs([]);
    });

  useEffect(() => {
    loadConvs();
    // Suggestions may take a body or none; try both shapes quietly.
    api('POST', '/api/chat/suggestions', {})
      .catch((e) => (e.status === 413 || e.status === 400 ? api('POST', '/api/chat/suggestions') : Promise.reject(e)))
      .then((r) => setSuggestions((r && r.suggestions) || []), () => {});
  }, []);

  useEffect(() => {
    if (conversationId && conversationId === created.current) return; // already on screen
    created.current = null;
    setMessages([]);
    setError(null);
    if (!conversationId) return;
    api('GET', '/api/chat/history?conversation_id=' + encodeURIComponent(conversationId) + '&limit=200')
      .then((r) => setMessages((r.messages || []).map((m) => ({
        role: m.role, content: m.content, memories_used: m.memories_used || [],
      }))), setError);
  }, [conversationId]);

  useEffect(() => {
    if (bottom.current && bottom.current.scrollIntoView) bottom.current.scrollIntoView({ block: 'end' });
  }, [messages]);

  const send = async (override) => {
    const msg = (override ?? text).trim();
    if (!msg || busy) return;
    setBusy(true);
    setError(null);
    setFailed(null);
    const before = messages;
    const answer = { role: 'assistant', content: '', memories_used: [], streaming: true };
    setMessages([...before, { role: 'user', content: msg }, answer]);
    setText('');
    const update = (patch) => setMessages((ms) => [...ms.slice(0, -1), { ...ms[ms.length - 1], ...patch }]);
    try {
      const r = await api('POST', '/api/chat/message', { message: msg, conversation_id: conversationId || undefined, stream: true },
        { raw: true, accept: 'text/event-stream' });
      let final = null;
      let acc = '';
      if ((r.headers.get('content-type') || '').includes('text/event-stream')) {
        await readSse(r, (ev) => {
          if (ev.error) throw new ApiError(502, ev.error.code || 'stream_error', ev.error.message || 'The answer stopped.');
          if (typeof ev.delta === 'string') {
            acc += ev.delta;
            update({ content: acc });
          }
          if (typeof ev.response === 'string' || ev.conversation_id) final = ev;
        });
      } else {
        final = await r.json();
      }
      if (!final && !acc) throw new ApiError(502, 'empty_answer', 'The assistant sent no answer.');
      update({ content: final && typeof final.response === 'string' ? final.response : acc,
        memories_used: (final && final.memories_used) || [], streaming: false });
      if (final && final.conversation_id && final.conversation_id !== conversationId) {
        created.current = final.conversation_id;
        navigate('/chat/' + final.conversation_id, { replace: !conversationId });
      }
      loadConvs();
    } catch (e) {
      // Keep the question: back in the box, ready to retry.
      setMessages(before);
      setText(msg);
      setFailed(msg);
      if (e.status === 404) setUnavailable(true);
      setError(e.status === 404 ? new Error('The assistant is not available on this server yet.') : e);
    } finally {
      setBusy(false);
    }
  };

  // Enter sends with a keyboard; on a touch screen Enter is a new line and
  // the Send button sends. Ctrl/Cmd+Enter sends everywhere.
  const onKey = (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    if (e.ctrlKey || e.metaKey || (!e.shiftKey && !touchInput())) {
      e.preventDefault();
      send();
    }
  };

  return (
    <main id="main" class="chat">
      <PageTitle title="Chat" hidden />
      <nav class="panel convs" aria-label="Conversations">
        <h2>Conversations</h2>
        <Link href="/chat" class="button">New conversation</Link>
        <ul>
          {(convs || []).map((c) => (
            <li key={c.id}>
              <Link href={'/chat/' + c.id} aria-current={c.id === conversationId ? 'page' : undefined}>
                {snippet(c.title || c.preview || c.last_message || 'Conversation', 40)}
              </Link>
              {c.updated_at && <small class="muted"> {fmtDate(c.updated_at)}</small>}
            </li>
          ))}
        </ul>
        {convs && convs.length === 0 && <p class="muted">No conversations yet.</p>}
      </nav>
      <section class="thread panel" aria-label="Conversation">
        {unavailable && <p class="notice">The assistant is not available on this server yet.</p>}
        {messages.length === 0 && suggestions.length > 0 && (
          <div class="chips" role="group" aria-label="Suggestions">
            {suggestions.map((s, i) => (
              <button type="button" class="chip" key={i} onClick={() => send(s.text)}>{s.text}</button>
            ))}
          </div>
        )}
        <div class="messages" aria-live="polite">
          {messages.map((m, i) => (
            <div key={i} class={'msg ' + m.role}>
              {m.role === 'assistant' ? (
                <div data-testid="chat-answer" aria-busy={m.streaming ? 'true' : 'false'}>
                  <Markdown text={m.content || (m.streaming ? '…' : '')} />
                  <Citations ids={m.memories_used || []} />
                </div>
              ) : (
                <Markdown text={m.content} />
              )}
            </div>
          ))}
          <div ref={bottom} />
        </div>
        <ErrorNote error={error} onRetry={failed ? () => send(failed) : undefined} />
        <form class="chat-form" onSubmit={(e) => { e.preventDefault(); send(); }}>
          <label class="sr-only" for="chat-input">{touchInput() ? 'Message (Send button sends)' : 'Message (Enter sends, Shift+Enter for a new line)'}</label>
          <textarea id="chat-input" data-testid="chat-input" rows={2} value={text} placeholder="Ask about your memories…"
            onInput={(e) => setText(e.currentTarget.value)} onKeyDown={onKey} />
          <button type="submit" class="primary" data-testid="chat-send" disabled={busy || !text.trim()}>
            {busy ? 'Answering…' : 'Send'}
          </button>
        </form>
      </section>
    </main>
  );
}
