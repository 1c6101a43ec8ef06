// The toolbar popup: save the current page, quick capture, search as you type.
import { getSettings, queueLength, save, search } from './api.js';
import { noteBody } from './capture.js';
import { acceptable, fileLimits, uploadFile } from './files.js';

const $ = (id) => document.getElementById(id);
const status = (text, cls = '') => {
  $('status').textContent = text;
  $('status').className = cls;
};
const openOptions = (e) => {
  e.preventDefault();
  chrome.runtime.openOptionsPage();
};
$('options').addEventListener('click', openOptions);
$('setup-link').addEventListener('click', openOptions);

function describe(r) {
  if (r.queued) return ['Offline: queued, will be sent when the server is back', ''];
  return [r.updated ? 'Updated the saved memory' : 'Saved', 'ok'];
}

$('save-page').addEventListener('click', async () => {
  $('save-page').disabled = true;
  status('Saving…');
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  const r = await chrome.runtime.sendMessage({ type: 'save-tab', tabId: tab && tab.id });
  $('save-page').disabled = false;
  if (r.ok) status(...describe(r.result));
  else status(r.error, 'err');
});

$('capture-save').addEventListener('click', async () => {
  const text = $('capture').value;
  if (!text.trim()) return;
  $('capture-save').disabled = true;
  try {
    const r = await save(noteBody(text));
    status(...describe(r));
    $('capture').value = '';
  } catch (e) {
    status(e.message, 'err');
  } finally {
    $('capture-save').disabled = false;
  }
});

// Files picked or dropped: each checked against the server's limit and the
// types it reads, then uploaded with progress as a file memory.
const mb = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.max(1, Math.round(n / 1024)) + ' KB');
async function sendFiles(files) {
  if (!files.length) return;
  let limits;
  try {
    limits = await fileLimits(true);
  } catch (e) {
    status(e.message, 'err');
    return;
  }
  const bar = $('file-progress');
  let sent = 0;
  const refused = [];
  for (const f of files) {
    if (f.size > limits.file_max) {
      refused.push(`${f.name}: larger than ${mb(limits.file_max)}`);
      continue;
    }
    if (!acceptable(f.type, f.name)) {
      refused.push(`${f.name}: not a type PersonalOS reads`);
      continue;
    }
    status(`Uploading ${f.name}…`);
    bar.hidden = false;
    bar.value = 0;
    try {
      await uploadFile(f, { name: f.name }, (done, total) => {
        bar.value = total ? Math.round((100 * done) / total) : 0;
      });
      sent++;
    } catch (e) {
      refused.push(`${f.name}: ${e.message}`);
    }
  }
  bar.hidden = true;
  if (refused.length) status(`Saved ${sent} file(s). Not saved: ${refused.join('; ')}`, 'err');
  else status(`Saved ${sent} file(s)`, 'ok');
}
$('file').addEventListener('change', (e) => {
  const files = [...(e.target.files || [])];
  e.target.value = '';
  sendFiles(files);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  sendFiles([...((e.dataTransfer && e.dataTransfer.files) || [])]);
});

let timer = null, seq = 0;
$('q').addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(run, 200);
});

async function run() {
  const q = $('q').value.trim();
  const mine = ++seq;
  const list = $('results');
  if (!q) {
    list.replaceChildren();
    return;
  }
  try {
    const res = await search(q);
    if (mine !== seq) return; // a newer query is on its way
    list.replaceChildren(
      ...res.memories.map((m) => {
        const li = document.createElement('li');
        li.dataset.id = m.id;
        const text = document.createElement('div');
        text.textContent = m.content.length > 200 ? m.content.slice(0, 200) + '…' : m.content;
        const meta = document.createElement('div');
        meta.className = 'meta';
        const url = m.metadata && m.metadata.url;
        meta.textContent = `${m.type} · ${m.created_at.slice(0, 10)}${url ? ' · ' + url : ''}`;
        li.append(text, meta);
        return li;
      }),
    );
    if (!res.memories.length) {
      const li = document.createElement('li');
      li.className = 'meta';
      li.textContent = 'No memory matches';
      list.append(li);
    }
  } catch (e) {
    if (mine === seq) status(e.message, 'err');
  }
}

(async () => {
  const { token } = await getSettings();
  $('setup').hidden = Boolean(token);
  // the server's limit, shown before anything is sent
  if (token) fileLimits(true).then((l) => { $('file-limit').textContent = `up to ${mb(l.file_max)} each`; }, () => {});
  const n = await queueLength();
  if (n) {
    status(`${n} save(s) waiting for the server…`);
    chrome.runtime.sendMessage({ type: 'flush' }).then(async () => {
      const left = await queueLength();
      status(left ? `${left} save(s) waiting for the server` : 'Queued saves sent', left ? '' : 'ok');
    });
  }
})();
