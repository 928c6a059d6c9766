// Helpers shared by the babelcast pages: REST calls, socket URLs, reconnect
// backoff, status messages and language names.

export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const BACKOFF_JITTER = 0.2;

/** Session id from /speak/{id} or /listen/{id}, or null. */
export function sessionIdFromPath(prefix) {
  const parts = location.pathname.split('/').filter(Boolean);
  if (parts.length < 2 || parts[0] !== prefix) return null;
  const id = decodeURIComponent(parts[1]);
  return SESSION_ID_PATTERN.test(id) ? id : null;
}

/** sessionStorage key of the speaker token of a session (never put it in a URL). */
export function tokenKey(id) {
  return `babelcast.speaker_token.${id}`;
}

/** sessionStorage key of the listener link the server announced for a session. */
export function listenUrlKey(id) {
  return `babelcast.listen_url.${id}`;
}

export class ApiError extends Error {
  constructor(message, status, code, retryAfterS = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS; // from Retry-After, 0 when absent
  }
}

/** fetch() that returns parsed JSON (or null for 204) and throws ApiError. */
export async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new ApiError('Cannot reach the babelcast server. Check your connection and try again.', 0, 'network');
  }
  if (res.status === 204) return null;
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const message = body && body.error ? body.error : `The server answered ${res.status}.`;
    const retryAfterS = Number.parseInt(res.headers.get('Retry-After') || '', 10) || 0;
    throw new ApiError(message, res.status, body && body.code ? body.code : 'http_' + res.status, retryAfterS);
  }
  return body;
}

export function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/** Exponential reconnect delays with jitter; reset() after a good connection. */
export class Backoff {
  constructor(firstMs = BACKOFF_FIRST_MS, maxMs = BACKOFF_MAX_MS) {
    this.firstMs = firstMs;
    this.maxMs = maxMs;
    this.attempt = 0;
  }
  next() {
    const base = Math.min(this.maxMs, this.firstMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (1 - BACKOFF_JITTER + Math.random() * 2 * BACKOFF_JITTER));
  }
  reset() {
    this.attempt = 0;
  }
}

/** Shows a message in a status element; kind is "info", "ok", "warn" or "error". */
export function setStatus(el, text, kind = 'info') {
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

let languageNames = null;

/** Loads GET /api/languages once; returns {source:[..], targets:[..]}. */
export async function loadLanguages() {
  if (!languageNames) {
    languageNames = api('/api/languages').catch((e) => {
      languageNames = null;
      throw e;
    });
  }
  return languageNames;
}

/** Human name of a language code from a languages answer, falling back to the code. */
export function languageName(code, languages) {
  if (languages) {
    for (const list of [languages.source || [], languages.targets || []]) {
      const hit = list.find((l) => l.code === code);
      if (hit && hit.name) return hit.name;
    }
  }
  return code;
}

/** Appends a final caption line, or replaces the tentative one; shared by both pages. */
export class CaptionView {
  constructor(finalsEl, partialEl, maxLines = 200) {
    this.finalsEl = finalsEl;
    this.partialEl = partialEl;
    this.maxLines = maxLines;
    this.byUtterance = new Map();
  }
  clear() {
    this.finalsEl.replaceChildren();
    this.partialEl.textContent = '';
    this.partialUtterance = undefined;
    this.byUtterance.clear();
  }
  /** Returns true when the caption added a new final line. */
  show(msg) {
    const text = (msg.text || '').trim();
    if (!msg.final) {
      // A partial of an utterance that is already final is a stale echo.
      if (this.byUtterance.has(msg.utterance)) return false;
      this.partialUtterance = msg.utterance;
      // Simultaneous mode: the committed words are settled, the rest may change.
      const committed = (msg.committed || '').trim();
      if (committed && text.startsWith(committed)) {
        const settled = document.createElement('span');
        settled.className = 'committed';
        settled.textContent = committed;
        this.partialEl.replaceChildren(settled, text.slice(committed.length));
      } else {
        this.partialEl.textContent = text;
      }
      return false;
    }
    if (this.partialUtterance === undefined || this.partialUtterance <= msg.utterance) {
      this.partialEl.textContent = '';
      this.partialUtterance = undefined;
    }
    if (this.byUtterance.has(msg.utterance) || !text) return false;
    const line = document.createElement('p');
    line.className = 'final';
    line.textContent = text;
    this.byUtterance.set(msg.utterance, line);
    this.finalsEl.append(line);
    while (this.finalsEl.childElementCount > this.maxLines) {
      this.finalsEl.firstElementChild.remove();
    }
    this.finalsEl.scrollTop = this.finalsEl.scrollHeight;
    return true;
  }
}
