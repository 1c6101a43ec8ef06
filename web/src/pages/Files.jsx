// Files on memories (docs/FILES.md): a memory's attachments with their
// thumbnails (GET /api/attachments/{id}/thumbnail, fetched with the token
// and shown from an object URL), a download, the text found in each file,
// and uploads by drag-and-drop, paste or a file picker, with progress
// (XMLHttpRequest upload events, lib/api.js upload()).
import { useEffect, useState } from 'preact/hooks';
import { api, upload, qs } from '../lib/api.js';
import { ErrorNote } from '../components.jsx';

// The files of a drop or paste event (empty when it carries none).
export function filesOf(e) {
  const dt = e.dataTransfer || e.clipboardData;
  return dt && dt.files ? [...dt.files] : [];
}

// Uploads files one after another; progress(name, fraction) while each goes.
// Returns the answers; the first error stops and is thrown.
export async function uploadAll(files, pathFor, progress) {
  const out = [];
  for (const f of files) {
    const name = f.name || 'pasted-' + new Date().toISOString().replace(/[:.]/g, '-') + extOf(f.type);
    progress(name, 0);
    out.push(await upload(pathFor(name), f, (sent, total) => progress(name, total ? sent / total : 0)));
  }
  progress(null, 1);
  return out;
}

const extOf = (type) => ({ 'image/png': '.png', 'image/jpeg': '.jpg', 'image/gif': '.gif', 'image/webp': '.webp',
  'application/pdf': '.pdf', 'text/plain': '.txt' })[type] || '';

// Where an attachment's text is in the memory's content: a file memory's
// content is the name line then the text; another memory's keeps each
// file's text in a "[file: NAME]" section after its own text.
export function fileText(m, att) {
  const c = m.content || '';
  if (m.type === 'file') {
    const i = c.indexOf('\n\n');
    return i < 0 ? '' : c.slice(i + 2);
  }
  const head = '\n\n[file: ' + att.name + ']\n';
  const at = c.indexOf(head);
  if (at < 0) return '';
  const rest = c.slice(at + head.length);
  const next = rest.indexOf('\n\n[file: ');
  return next < 0 ? rest : rest.slice(0, next);
}

const HAS_THUMB = /^(image\/(png|jpeg|tiff|webp|gif|bmp|x-ms-bmp)|application\/pdf)$/;

function Thumb({ att }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!HAS_THUMB.test(att.mime || '')) return undefined;
    let u = null;
    let live = true;
    api('GET', '/api/attachments/' + att.id + '/thumbnail', undefined, { raw: true, accept: 'image/png' })
      .then((r) => r.blob())
      .then((b) => {
        if (!live) return;
        u = URL.createObjectURL(b);
        setUrl(u);
      })
      .catch(() => {});
    return () => {
      live = false;
      if (u) URL.revokeObjectURL(u);
    };
  }, [att.id]);
  if (!url) return <span class="thumb thumb-none" aria-hidden="true">{(att.mime || '').split('/')[1] || 'file'}</span>;
  return <img class="thumb" src={url} alt={'Preview of ' + att.name} data-testid="attachment-thumb" />;
}

async function download(att) {
  const r = await api('GET', '/api/attachments/' + att.id, undefined, { raw: true, accept: '*/*' });
  const u = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = u;
  a.download = att.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(u), 10_000);
}

const kb = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.max(1, Math.round(n / 1024)) + ' KB');

// Progress of an upload: "Uploading a.pdf… 40%".
export function UploadProgress({ p }) {
  if (!p || !p.name) return null;
  const pct = Math.round(p.fraction * 100);
  return (
    <p class="upload-progress small" role="status" data-testid="upload-progress">
      Uploading {p.name}… <progress max="100" value={pct} /> {pct}%
    </p>
  );
}

export function Attachments({ m, shared, onChange }) {
  const [error, setError] = useState(null);
  const [progress, setProgress] = useState(null);
  const [over, setOver] = useState(false);
  const atts = m.attachments || [];
  const pending = atts.some((a) => a.text_status === 'pending');

  // the text arrives from a background job: read the memory again until done
  useEffect(() => {
    if (!pending) return undefined;
    const t = setTimeout(onChange, 1500);
    return () => clearTimeout(t);
  }, [pending, m.updated_at, atts.length]);

  const send = async (files) => {
    if (!files.length || shared) return;
    setError(null);
    try {
      await uploadAll(files, (name) => '/api/memories/' + m.id + '/attachments' + qs({ name }),
        (name, fraction) => setProgress(name ? { name, fraction } : null));
      onChange();
    } catch (e) {
      setProgress(null);
      setError(e);
    }
  };
  const onDrop = (e) => {
    const fs = filesOf(e);
    setOver(false);
    if (!fs.length) return;
    e.preventDefault();
    send(fs);
  };

  if (!atts.length && shared) return null;
  return (
    <section class={'panel attachments' + (over ? ' drop-over' : '')} aria-label="Files" data-testid="attachments"
      onDragOver={(e) => { if (!shared) { e.preventDefault(); setOver(true); } }}
      onDragLeave={() => setOver(false)} onDrop={onDrop}
      onPaste={(e) => { const fs = filesOf(e); if (fs.length) { e.preventDefault(); send(fs); } }}>
      <h2>Files</h2>
      {atts.length > 0 && (
        <ul class="attachment-list">
          {atts.map((a) => {
            const text = a.text_status === 'done' ? fileText(m, a) : '';
            return (
              <li key={a.id} data-testid="attachment">
                <Thumb att={a} />
                <div class="grow">
                  <button type="button" class="link" onClick={() => download(a).catch(setError)} data-testid="attachment-download">{a.name}</button>
                  <span class="muted small"> · {kb(a.bytes || 0)}
                    {a.text_status === 'pending' && ' · reading the text…'}
                    {a.text_status === 'failed' && ' · no text: ' + (a.text_error || 'the file could not be read')}
                    {a.text_status === 'done' && a.text_pages > 1 && ' · ' + a.text_pages + ' pages'}
                  </span>
                  {text && (
                    <details data-testid="attachment-text">
                      <summary>Text found in this file</summary>
                      <pre class="file-text">{text}</pre>
                    </details>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {!shared && (
        <label class="small drop-hint">
          Drop or paste files here, or <input type="file" multiple data-testid="attachment-input"
            onChange={(e) => { const fs = [...(e.currentTarget.files || [])]; e.currentTarget.value = ''; send(fs); }} />
        </label>
      )}
      <UploadProgress p={progress} />
      <ErrorNote error={error} />
    </section>
  );
}
