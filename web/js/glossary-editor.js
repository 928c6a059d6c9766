// The speaker page's glossary editor: the session's glossary as text (one
// term per line, TAB-separated fields, the same form as
// `babelcast translate --glossary FILE`), saved with PUT.
import {api} from './common.js';

const TAB = '\t';

/** One line of the text form for a term of the JSON form. */
function lineOf(term) {
  const fields = [term.term];
  if (term.keep) fields.push('keep');
  for (const [lang, text] of Object.entries(term.translations || {})) fields.push(`${lang}=${text}`);
  if (term.sounds_like) fields.push(`sounds_like=${term.sounds_like}`);
  return fields.join(TAB);
}

export function glossaryText(glossary) {
  return glossary.map(lineOf).join('\n');
}

/**
 * Wires the editor to session id (token: the speaker token). page gets
 * glossaryVersion and glossaryError, which the browser tests read.
 */
export function setupGlossaryEditor(id, token, page) {
  const area = document.getElementById('glossary');
  const save = document.getElementById('glossary-save');
  const status = document.getElementById('glossary-status');
  const path = `/api/sessions/${encodeURIComponent(id)}/glossary`;
  const auth = {Authorization: `Bearer ${token}`};
  page.glossaryVersion = null;
  page.glossaryError = null;
  // Tab inserts a tab, the field separator of the text form; after Esc it
  // moves on, so keyboard users can leave the box.
  let escaped = false;
  area.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') escaped = true;
    if (ev.key !== 'Tab' || escaped || ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey) {
      if (ev.key !== 'Escape') escaped = false;
      return;
    }
    ev.preventDefault();
    area.setRangeText(TAB, area.selectionStart, area.selectionEnd, 'end');
  });
  save.addEventListener('click', async () => {
    save.disabled = true;
    status.textContent = 'Saving…';
    try {
      const answer = await api(path, {method: 'PUT', headers: {...auth, 'Content-Type': 'text/plain'},
        body: area.value});
      page.glossaryVersion = answer.version;
      page.glossaryError = null;
      const n = answer.glossary.length;
      status.textContent = `Saved ${n} term${n === 1 ? '' : 's'}: they apply from the next sentence.`;
    } catch (e) {
      page.glossaryError = e.message;
      status.textContent = `Not saved: ${e.message}`;
    } finally {
      save.disabled = false;
    }
  });
  api(path, {headers: auth}).then((answer) => {
    area.value = glossaryText(answer.glossary);
    page.glossaryVersion = answer.version;
    area.disabled = false;
    save.disabled = false;
  }).catch((e) => {
    status.textContent = `Could not load the glossary: ${e.message}`;
  });
}
