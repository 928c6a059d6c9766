// Home page: create a session (then go to its speaker page) or join one.
import {api, languageName, listenUrlKey, loadLanguages, setStatus, tokenKey, SESSION_ID_PATTERN} from './common.js';

const statusEl = document.getElementById('status');
const sourceEl = document.getElementById('source');
const targetsEl = document.getElementById('targets');
const createBtn = document.getElementById('create');

function targetLabel(t, langs) {
  const notes = [];
  if (!t.voice) notes.push('captions only');
  else if (t.stand_in && t.voice_name) notes.push(`${languageName(t.voice_name, langs)} voice`);
  if (t.pivot) notes.push(`via ${languageName(t.pivot, langs)}`);
  const name = t.name || t.code;
  return notes.length ? `${name} (${notes.join(', ')})` : name;
}

async function showLanguages() {
  let langs;
  try {
    langs = await loadLanguages();
  } catch (e) {
    setStatus(statusEl, `Could not load the list of languages: ${e.message}`, 'error');
    document.getElementById('targets-loading').textContent = 'Languages unavailable.';
    return;
  }
  sourceEl.replaceChildren(...(langs.source || []).map((l) => new Option(`${l.name} (${l.code})`, l.code)));
  const boxes = (langs.targets || []).map((t) => {
    const id = `target-${t.code}`;
    const wrap = document.createElement('div');
    wrap.className = 'check';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = id;
    box.name = 'targets';
    box.value = t.code;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = targetLabel(t, langs);
    wrap.append(box, label);
    return wrap;
  });
  document.getElementById('targets-loading').remove();
  targetsEl.append(...boxes);
  sourceEl.disabled = false;
  targetsEl.disabled = false;
  createBtn.disabled = false;
}

document.getElementById('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = {source: sourceEl.value};
  const targets = [...targetsEl.querySelectorAll('input:checked')].map((b) => b.value);
  if (targets.length) body.targets = targets;
  body.mode = document.getElementById('mode').value;
  createBtn.disabled = true;
  setStatus(statusEl, 'Creating the session…', 'info');
  try {
    const s = await api('/api/sessions', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body),
    });
    sessionStorage.setItem(tokenKey(s.id), s.speaker_token);
    // The server's public link (the one its QR code encodes) may differ from this origin.
    if (s.listen_url) sessionStorage.setItem(listenUrlKey(s.id), new URL(s.listen_url, location.origin).href);
    // Same origin on purpose: sessionStorage (the token) is per origin, and
    // speak_url may name another host (the server's public URL).
    location.assign(`/speak/${encodeURIComponent(s.id)}`);
  } catch (e) {
    const later = e.retryAfterS ? ` Try again in ${e.retryAfterS} s.` : ' Try again later.';
    const why = e.code === 'too_many_sessions' ? `The server is running as many sessions as it can.${later}`
      : e.code === 'server_full' ? `The server is full: it cannot translate another talk right now.${later}`
        : e.message;
    setStatus(statusEl, `Could not create the session: ${why}`, 'error');
    createBtn.disabled = false;
  }
});

/** Accepts a bare code or a pasted listener/speaker link. */
function codeFromInput(text) {
  const t = text.trim();
  const m = t.match(/\/(?:listen|speak)\/([^/?#\s]+)/);
  const code = m ? decodeURIComponent(m[1]) : t;
  return SESSION_ID_PATTERN.test(code) ? code : null;
}

document.getElementById('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const code = codeFromInput(document.getElementById('code').value);
  if (!code) {
    setStatus(statusEl, 'That does not look like a session code: use letters, digits, "-" or "_".', 'error');
    document.getElementById('code').focus();
    return;
  }
  location.assign(`/listen/${encodeURIComponent(code)}`);
});

showLanguages();
