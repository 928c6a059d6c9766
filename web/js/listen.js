// Listener page: captions and translated speech of one language of a session.
import {api, Backoff, CaptionView, languageName, loadLanguages, sessionIdFromPath, setStatus,
  wsUrl} from './common.js';
import {OpusStreamDecoder, opusDecodingSupported} from './opus-decoder.js';
import {AudioPlayer} from './player.js';
import {enterProjectorView, isProjectorView, projectorUrl} from './projector.js';

const CLOSE_NORMAL = 1000;
const CLOSE_FELL_BEHIND = 4408;
const CODEC_PCM16 = 'pcm16';
const CODEC_OPUS = 'opus';
const CODECS = [CODEC_PCM16, CODEC_OPUS];
const TRANSCRIPT_FORMATS = ['vtt', 'srt', 'txt'];

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const langEl = $('lang');
const listenBtn = $('listen');
const muteBtn = $('mute');

const id = sessionIdFromPath('listen');
// A private session's listener key travels in the page's own link.
const listenerKey = new URL(location.href).searchParams.get('key');
const keyParam = listenerKey ? `key=${encodeURIComponent(listenerKey)}` : '';
const captions = new CaptionView($('finals'), $('partial'));
const backoff = new Backoff();

// Page state, also read by the browser tests.
const page = {
  page: 'listen',
  view: isProjectorView() ? 'projector' : 'page',
  sessionId: id,
  state: 'loading', // loading, idle, connecting, live, reconnecting, ended, error
  lang: null,
  hello: null,
  finals: [],
  partial: '',
  partialsReceived: 0,
  audioFramesReceived: 0,
  audioChunksScheduled: 0,
  audioSecondsScheduled: 0,
  audioUtterances: 0,
  codec: null, // asked for while connecting, then the one the server confirmed
  opusPacketsDecoded: 0,
  codecFallback: null, // why Opus was given up for PCM16, if it was
  lastLatencyMs: null,
  captionLatencyMs: null,
  audioLatencyMs: null,
  muted: false,
  reconnects: 0,
  lastClose: null,
  audioContextState: null,
};
window.babelcast = page;

let languages = null;
let ws = null;
let reconnectTimer = 0;
let audio = null; // {ctx, gain, player}
let utterance = null; // {sampleRate, codec, frameMs} while audio frames of an utterance arrive
let opusSupported = false;
let opus = null; // OpusStreamDecoder while an Opus connection is open
// ?codec= lets a tester, or a user whose decoder misbehaves, pick the codec.
let codecOverride = CODECS.find((c) => c === new URL(location.href).searchParams.get('codec')) || null;

function setState(state) {
  page.state = state;
  const listening = ['connecting', 'live', 'reconnecting'].includes(state);
  listenBtn.textContent = listening ? 'Stop' : 'Listen';
  listenBtn.setAttribute('aria-label', listening ? 'Stop listening' : 'Listen');
  listenBtn.disabled = ['loading', 'ended', 'error'].includes(state);
  muteBtn.disabled = !audio || !listening;
  langEl.disabled = ['loading', 'ended', 'error'].includes(state);
}

function showLatency() {
  const parts = [];
  if (page.captionLatencyMs !== null) parts.push(`captions ${page.captionLatencyMs} ms`);
  if (page.audioLatencyMs !== null) parts.push(`voice ${page.audioLatencyMs} ms`);
  $('latency').textContent = parts.length ? parts.join(', ') : '–';
}

function latencyOf(appendMs) {
  const ms = Date.now() - Number(appendMs);
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms)) : null;
}

function showDownloads(lang) {
  for (const fmt of TRANSCRIPT_FORMATS) {
    const a = $(`dl-${fmt}`);
    a.href = `/api/sessions/${encodeURIComponent(id)}/transcript?lang=${encodeURIComponent(lang)}&format=${fmt}${keyParam ? `&${keyParam}` : ''}`;
    a.download = `babelcast-${id}-${lang}.${fmt}`;
  }
}

// ---- audio --------------------------------------------------------------

/** Creates or resumes the AudioContext; must run inside the click handler. */
function ensureAudio() {
  if (!audio) {
    const ctx = new AudioContext({latencyHint: 'interactive'});
    const gain = ctx.createGain();
    gain.gain.value = page.muted ? 0 : 1;
    gain.connect(ctx.destination);
    audio = {ctx, gain, player: new AudioPlayer(ctx, gain)};
    ctx.onstatechange = () => {
      page.audioContextState = ctx.state;
    };
  }
  page.audioContextState = audio.ctx.state;
  return audio.ctx.resume().then(() => {
    page.audioContextState = audio.ctx.state;
  }).catch(() => {});
}

function toggleMute() {
  page.muted = !page.muted;
  // Audio started without a click (the projector view) resumes on this one.
  if (audio && !page.muted) ensureAudio();
  if (audio) audio.gain.gain.setTargetAtTime(page.muted ? 0 : 1, audio.ctx.currentTime, 0.01);
  muteBtn.setAttribute('aria-pressed', String(page.muted));
  muteBtn.textContent = page.muted ? 'Unmute' : 'Mute';
}

function countScheduled() {
  page.audioChunksScheduled += 1;
  page.audioSecondsScheduled = audio.player.scheduledSeconds;
}

function canPlay(codec) {
  return codec === CODEC_PCM16 || (codec === CODEC_OPUS && opusSupported);
}

function wantedCodec() {
  return codecOverride || (opusSupported ? CODEC_OPUS : CODEC_PCM16);
}

function openOpusDecoder(sampleRate) {
  if (opus && opus.config.sampleRate === sampleRate) {
    opus.reset();
    return;
  }
  closeOpusDecoder();
  const decoder = new OpusStreamDecoder(sampleRate, (samples, rate) => {
    page.opusPacketsDecoded += 1;
    if (audio && audio.player.pushSamples(samples, rate)) countScheduled();
  }, (error) => {
    if (opus === decoder) {
      fallBackToPcm16('This browser could not decode the compressed audio.',
        `decoder: ${(error && error.message) || error}`);
    }
  });
  opus = decoder;
}

function closeOpusDecoder() {
  if (opus) opus.close();
  opus = null;
}

/** Reconnects asking for PCM16, which every browser plays; why is shown to the listener. */
function fallBackToPcm16(why, detail) {
  closeOpusDecoder();
  codecOverride = CODEC_PCM16;
  page.codecFallback = detail;
  if (!['connecting', 'live', 'reconnecting'].includes(page.state)) return;
  closeSocket();
  if (audio) audio.player.stop();
  utterance = null;
  setStatus(statusEl, `${why} Switching to uncompressed audio…`, 'warn');
  setState('reconnecting');
  connect();
}

// ---- socket -------------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  const lang = page.lang;
  // Packets still in the decoder belong to the connection that just ended.
  if (opus) opus.reset();
  page.codec = wantedCodec();
  // Asking for PCM16 by leaving the codec out keeps older servers working.
  const codecParam = page.codec === CODEC_PCM16 ? '' : `&codec=${encodeURIComponent(page.codec)}`;
  const sock = new WebSocket(wsUrl(`/ws/listen/${encodeURIComponent(id)}?lang=${encodeURIComponent(lang)}${codecParam}${keyParam ? `&${keyParam}` : ''}`));
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    if (typeof ev.data === 'string') {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      onMessage(msg);
    } else {
      onAudio(ev.data);
    }
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    onClose(ev.code, ev.reason);
  };
  if (page.state !== 'reconnecting') setState('connecting');
}

function onMessage(msg) {
  switch (msg.type) {
    case 'hello': {
      page.hello = msg;
      page.codec = msg.codec || CODEC_PCM16;
      backoff.reset();
      setState('live');
      const name = languageName(msg.lang, languages);
      let text = `Listening in ${name}.`;
      if (msg.voice === false) text += ' This language has captions only (no voice).';
      else if (!canPlay(page.codec)) text += ` Audio in ${page.codec} cannot be played here: captions only.`;
      else if (page.codecFallback) text += ' Playing uncompressed audio.';
      if (page.codec === CODEC_OPUS && canPlay(CODEC_OPUS)) openOpusDecoder(Number(msg.sample_rate));
      else closeOpusDecoder();
      setStatus(statusEl, text, 'ok');
      break;
    }
    case 'caption':
      if (captions.show(msg)) {
        page.finals.push(msg.text);
        if (!msg.replay) {
          page.captionLatencyMs = latencyOf(msg.append_ms);
          page.lastLatencyMs = page.captionLatencyMs;
          showLatency();
        }
      }
      page.partial = msg.final ? '' : msg.text;
      if (!msg.final) page.partialsReceived += 1;
      break;
    case 'audio_start':
      utterance = {sampleRate: Number(msg.sample_rate) || (page.hello && page.hello.sample_rate),
        codec: msg.codec || page.codec || CODEC_PCM16, frameMs: Number(msg.frame_ms) || null};
      page.audioUtterances += 1;
      if (!msg.replay) {
        page.audioLatencyMs = latencyOf(msg.append_ms);
        page.lastLatencyMs = page.audioLatencyMs;
        showLatency();
      }
      break;
    case 'audio_end':
      if (audio) audio.player.endUtterance();
      if (opus && utterance && utterance.codec === CODEC_OPUS) opus.endUtterance();
      utterance = null;
      break;
    case 'ended':
      finish('The speaker ended the session. The transcript stays available below.');
      break;
    default:
      break;
  }
}

function onAudio(data) {
  page.audioFramesReceived += 1;
  const codec = (utterance && utterance.codec) || page.codec || CODEC_PCM16;
  if (!audio) return;
  if (codec === CODEC_OPUS) {
    // Scheduled from the decoder's output, which arrives asynchronously.
    if (opus) opus.decode(data, utterance && utterance.frameMs);
    return;
  }
  const rate = (utterance && utterance.sampleRate) || (page.hello && page.hello.sample_rate);
  if (codec !== CODEC_PCM16 || !rate) return;
  if (audio.player.pushPcm16(data, rate)) countScheduled();
}

function onClose(code, reason) {
  page.lastClose = {code, reason};
  utterance = null;
  if (page.state === 'ended' || page.state === 'idle') return;
  if (code === CLOSE_NORMAL || code === 4410) {
    finish('The session has ended. The transcript stays available below.');
    return;
  }
  if (code === 4404) {
    stopListening();
    setState('error');
    setStatus(statusEl, `There is no session with code ${id} (any more).`, 'error');
    return;
  }
  if (code === 4415 && page.codec !== CODEC_PCM16 && !codecOverride) {
    // A server built without Opus refuses the codec the same way it refuses a language.
    fallBackToPcm16('The server offers no compressed audio.', `server refused ${page.codec}`);
    return;
  }
  if (code === 4415) {
    stopListening();
    setState('idle');
    setStatus(statusEl, `This session does not offer ${languageName(page.lang, languages)}. Pick another language.`, 'error');
    return;
  }
  if (code === CLOSE_FELL_BEHIND && audio) audio.player.stop();
  page.reconnects += 1;
  const delay = code === CLOSE_FELL_BEHIND ? 0 : backoff.next();
  const why = code === 4429 ? 'The server has too many listeners.'
    : code === CLOSE_FELL_BEHIND ? 'This connection fell behind.'
      : 'Connection to the server lost.';
  setStatus(statusEl, `${why} Reconnecting in ${Math.ceil(delay / 1000)} s…`, 'warn');
  setState('reconnecting');
  reconnectTimer = setTimeout(connect, delay);
}

function closeSocket() {
  clearTimeout(reconnectTimer);
  if (ws) {
    const sock = ws;
    ws = null;
    sock.close(CLOSE_NORMAL);
  }
}

function stopListening() {
  closeSocket();
  closeOpusDecoder();
  if (audio) audio.player.stop();
  utterance = null;
}

function finish(message) {
  stopListening();
  setState('ended');
  setStatus(statusEl, message, 'info');
}

function startListening() {
  ensureAudio();
  captions.clear();
  page.finals = [];
  page.partial = '';
  setStatus(statusEl, 'Connecting…', 'info');
  setState('connecting');
  connect();
}

function onListenClick() {
  if (['connecting', 'live', 'reconnecting'].includes(page.state)) {
    stopListening();
    setState('idle');
    setStatus(statusEl, 'Stopped. Press Listen to continue.', 'info');
  } else {
    startListening();
  }
}

function onLanguageChange() {
  page.lang = langEl.value;
  showDownloads(page.lang);
  const url = new URL(location.href);
  url.searchParams.set('lang', page.lang);
  history.replaceState(null, '', url);
  if (['connecting', 'live', 'reconnecting'].includes(page.state)) {
    stopListening();
    startListening();
  }
}

function unique(codes) {
  return [...new Set(codes.filter(Boolean))];
}

function pickLanguage(offered, info) {
  const wanted = new URL(location.href).searchParams.get('lang');
  if (wanted && offered.includes(wanted)) return wanted;
  for (const pref of navigator.languages || []) {
    const code = pref.toLowerCase().split('-')[0];
    if (code !== info.source && offered.includes(code)) return code;
  }
  return offered.find((code) => code !== info.source) || offered[0];
}

async function init() {
  if (!id) {
    setState('error');
    setStatus(statusEl, 'This address has no valid session code. Ask the speaker for the link.', 'error');
    return;
  }
  $('session-code').textContent = id;
  document.title = `Listen ${id}: babelcast`;
  $('projector-link').href = projectorUrl();
  if (page.view === 'projector') enterProjectorView(id, keyParam);
  listenBtn.addEventListener('click', onListenClick);
  muteBtn.addEventListener('click', toggleMute);
  langEl.addEventListener('change', onLanguageChange);
  let info;
  try {
    [info, languages, opusSupported] = await Promise.all([
      api(`/api/sessions/${encodeURIComponent(id)}${keyParam ? `?${keyParam}` : ''}`),
      loadLanguages().catch(() => null),
      opusDecodingSupported(),
    ]);
  } catch (e) {
    setState('error');
    setStatus(statusEl, e.status === 404 ? `There is no session with code ${id}. Check the code with the speaker.`
      : `Could not load the session: ${e.message}`, 'error');
    return;
  }
  // The session's languages come first; the server translates into any other
  // language it knows as soon as someone listens in it.
  const own = unique([...(info.languages || []), ...(info.targets || [])]);
  const more = unique([info.source, ...((languages && languages.targets) || []).map((t) => t.code)])
    .filter((code) => code && !own.includes(code));
  const group = (label, codes) => {
    const g = document.createElement('optgroup');
    g.label = label;
    g.append(...codes.map((code) => new Option(code === info.source
      ? `${languageName(code, languages)} (original)` : languageName(code, languages), code)));
    return g;
  };
  const groups = [];
  if (own.length) groups.push(group('This session', own));
  if (more.length) groups.push(group(own.length ? 'More languages' : 'Languages', more));
  langEl.replaceChildren(...groups);
  const offered = [...own, ...more];
  page.lang = pickLanguage(offered, info);
  langEl.value = page.lang;
  showDownloads(page.lang);
  if (info.state === 'ended') {
    setState('ended');
    setStatus(statusEl, 'This session has ended. You can still download its transcript.', 'info');
    return;
  }
  setState('idle');
  setStatus(statusEl, 'Choose a language and press Listen.', 'info');
  if (page.view === 'projector') {
    // A screen in the room shows captions at once; the room hears the
    // speaker, so translated speech waits for Unmute.
    toggleMute();
    startListening();
  }
}

init();
