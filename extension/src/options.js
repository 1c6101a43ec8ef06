// The options page: server URL and personal API token, checked with
// GET /api/auth/me before they are kept.
import { api, getSettings, setSettings } from './api.js';

const $ = (id) => document.getElementById(id);

(async () => {
  const s = await getSettings();
  $('server').value = s.serverUrl;
  $('token').value = s.token;
})();

$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const serverUrl = $('server').value;
  const token = $('token').value;
  if (!/^https?:\/\//i.test(serverUrl.trim())) {
    $('status').textContent = 'The server URL must start with http:// or https://';
    $('status').className = 'err';
    return;
  }
  await setSettings({ serverUrl, token });
  try {
    const me = await api('GET', '/api/auth/me');
    $('status').textContent = 'Saved. Signed in as ' + me.email;
    $('status').className = 'ok';
    chrome.runtime.sendMessage({ type: 'flush' }).catch(() => {});
  } catch (err) {
    $('status').textContent = 'Saved, but the server said: ' + err.message;
    $('status').className = 'err';
  }
});
