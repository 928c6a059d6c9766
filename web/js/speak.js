// Speaker page: microphone -> AudioWorklet (16 kHz PCM16) -> speaker socket,
// with a bounded resend buffer so reconnects lose no audio.
import {api, Backoff, CaptionView, languageName, listenUrlKey, loadLanguages, sessionIdFromPath,
  setStatus, tokenKey, wsUrl} from './common.js';
import {setupGlossaryEditor} from './glossary-editor.js';
import {SendBuffer} from './send-buffer.js';

const TARGET_RATE_HZ = 16000;
const FRAME_SAMPLES = 1600; // 100 ms per socket frame
const MAX_BUFFER_SAMPLES = TARGET_RATE_HZ * 120; // keep up to 2 min of unacknowledged audio
const END_DRAIN_TIMEOUT_MS = 3000; // wait this long for the server to acknowledge the last audio
const WATCHDOG_MS = 15000; // no message for this long while streaming: reconnect
const METER_FLOOR_DB = -60;
const CLOSE_NORMAL = 1000;

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const startBtn = $('start');
const pauseBtn = $('pause');
const endBtn = $('end');

const id = sessionIdFromPath('speak');
const token = id ? sessionStorage.getItem(tokenKey(id)) : null;
const captions = new CaptionView($('finals'), $('partial'));
const buffer = new SendBuffer(MAX_BUFFER_SAMPLES);
const backoff = new Backoff();

// Page state, also read by the browser tests.
const page = {
  page: 'speak',
  sessionId: id,
  state: 'loading', // loading, ready, live, paused, reconnecting, ended, error
  socket: 'closed', // connecting, open, ready, reconnecting, closed
  capture: 'idle', // idle, starting, live, paused, stopped, denied, error
  framesSent: 0,
  samplesCaptured: 0,
  ackedSamples: 0,
  droppedSamples: 0,
  reconnects: 0,
  finals: [],
  partial: '',
  partialsReceived: 0,
  lastReadySamples: null,
  listeners: {},
  lastClose: null,
  micError: null,
  sampleRate: null,
  workletInputSamples: 0, // at the device rate, as the worklet consumed them
  workletOutputSamples: 0, // at 16 kHz, as the worklet produced them
};
window.babelcast = page;
// Closes the socket as a network drop would (used by the browser tests).
page.dropConnection = () => {
  if (ws) ws.close(4000, 'dropped');
};

let languages = null;
let ws = null;
let reconnectTimer = 0;
let watchdogTimer = 0;
let ended = false;
let halted = false; // the server refused this tab for good: no reconnect, no Start
let audio = null; // {ctx, stream, node, sink}
let flushSeq = 0;

function updateState() {
  if (ended) page.state = 'ended';
  else if (halted) page.state = 'error';
  else if (page.socket === 'reconnecting') page.state = 'reconnecting';
  else if (page.capture === 'live' && page.socket === 'ready') page.state = 'live';
  else if (page.capture === 'paused') page.state = 'paused';
  else if (page.capture === 'denied' || page.capture === 'error') page.state = 'error';
  else page.state = 'ready';
  page.samplesCaptured = buffer.end;
  page.ackedSamples = buffer.acked;
  page.droppedSamples = buffer.dropped;
  const streaming = page.capture === 'live' || page.capture === 'paused';
  startBtn.disabled = ended || halted || !token || streaming || page.capture === 'starting';
  pauseBtn.disabled = ended || !streaming;
  endBtn.disabled = ended || !token;
  pauseBtn.textContent = page.capture === 'paused' ? 'Resume' : 'Pause';
  pauseBtn.setAttribute('aria-pressed', String(page.capture === 'paused'));
}

function fail(message) {
  setStatus(statusEl, message, 'error');
  updateState();
}

// ---- socket -------------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  if (ended) return;
  page.socket = page.socket === 'reconnecting' ? 'reconnecting' : 'connecting';
  const sock = new WebSocket(wsUrl(`/ws/speak/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`));
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    if (ws !== sock) return;
    page.socket = 'open';
  };
  sock.onmessage = (ev) => {
    if (ws !== sock || typeof ev.data !== 'string') return;
    armWatchdog();
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    onMessage(sock, msg);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    onClose(ev.code, ev.reason);
  };
  updateState();
}

function onMessage(sock, msg) {
  switch (msg.type) {
    case 'ready': {
      page.lastReadySamples = Number(msg.received_samples) || 0;
      const views = buffer.resume(page.lastReadySamples);
      for (const v of views) sendAudio(sock, v);
      page.socket = 'ready';
      backoff.reset();
      if (page.capture === 'live') setStatus(statusEl, 'Live: listeners hear you now.', 'ok');
      else if (page.capture !== 'denied' && page.capture !== 'error') {
        setStatus(statusEl, 'Connected. Press Start to go live.', 'info');
      }
      if (buffer.dropped > page.droppedSamples) {
        const s = (buffer.dropped / TARGET_RATE_HZ).toFixed(1);
        setStatus(statusEl, `Reconnected, but ${s} s of audio were lost while the connection was down.`, 'warn');
      }
      break;
    }
    case 'ack':
      buffer.ack(Number(msg.received_samples) || 0);
      break;
    case 'caption':
      if (captions.show(msg)) page.finals.push(msg.text);
      page.partial = msg.final ? '' : msg.text;
      if (!msg.final) page.partialsReceived += 1;
      break;
    case 'listeners':
      showCounts(msg.counts || {});
      break;
    default:
      break;
  }
  updateState();
}

function onClose(code, reason) {
  page.lastClose = {code, reason};
  clearTimeout(watchdogTimer);
  if (ended) return;
  const fatal = {
    1000: 'The session has ended.',
    4410: 'The session has ended.',
    4401: 'The server refused the speaker key of this tab. Start a new session from the home page.',
    4404: 'This session does not exist (any more). Start a new one from the home page.',
    // The server hands the session to the newest speaker connection; taking
    // it back automatically would make two tabs fight over it.
    4409: 'Another tab or device took over this broadcast, so this tab stopped. Reload this page to broadcast from here again.',
  };
  if (fatal[code]) {
    if (code === 1000 || code === 4410) finish('The session has ended.');
    else {
      page.socket = 'closed';
      halted = true;
      stopCapture();
      fail(fatal[code]);
    }
    return;
  }
  page.socket = 'reconnecting';
  page.reconnects += 1;
  const delay = backoff.next();
  const why = code === 4503 && /server full/.test(reason || '')
    ? 'The server is full: no worker can take this session right now.'
    : code === 4503 ? 'The server is busy.'
      : code === 4429 ? 'The server is at its limit.'
        : 'Connection to the server lost.';
  const kept = page.capture === 'live' || buffer.pending > 0
    ? ' Your audio is kept and sent when the connection is back.' : '';
  setStatus(statusEl, `${why} Reconnecting in ${Math.ceil(delay / 1000)} s…${kept}`, 'warn');
  reconnectTimer = setTimeout(connect, delay);
  updateState();
}

function armWatchdog() {
  clearTimeout(watchdogTimer);
  if (page.capture !== 'live') return;
  // A half-open connection stays "open" forever: acks stop, so drop it and reconnect.
  watchdogTimer = setTimeout(() => {
    if (ws && page.capture === 'live') ws.close(4000, 'no acknowledgement');
  }, WATCHDOG_MS);
}

function sendAudio(sock, view) {
  sock.send(view);
  page.framesSent += 1;
}

// ---- microphone -----------------------------------------------------------

function micMessage(err) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'Microphone access was denied. Allow the microphone for this site (see the icon in the address bar) and press Start again.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return 'No microphone was found. Connect one and press Start again.';
  }
  if (name === 'NotReadableError') {
    return 'The microphone could not be opened: another application may be using it.';
  }
  return `The microphone could not be started: ${err && err.message ? err.message : err}`;
}

async function startCapture() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    page.capture = 'error';
    fail('This browser cannot use the microphone here: open the page over https (or on localhost).');
    return;
  }
  page.capture = 'starting';
  updateState();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: {channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false},
    });
  } catch (err) {
    page.capture = err && err.name === 'NotAllowedError' ? 'denied' : 'error';
    page.micError = err && err.name;
    fail(micMessage(err));
    return;
  }
  try {
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule('/js/capture-worklet.js');
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, 'babelcast-capture', {
      numberOfOutputs: 1,
      processorOptions: {targetRate: TARGET_RATE_HZ, frameSamples: FRAME_SAMPLES},
    });
    // A silent sink keeps the graph pulled without playing the microphone back.
    const sink = ctx.createGain();
    sink.gain.value = 0;
    source.connect(node).connect(sink).connect(ctx.destination);
    node.port.onmessage = (ev) => onWorklet(ev.data);
    await ctx.resume();
    audio = {ctx, stream, node, sink, flushes: new Map()};
    page.sampleRate = ctx.sampleRate;
    $('capture-info').textContent = `Microphone at ${ctx.sampleRate} Hz, sent as ${TARGET_RATE_HZ} Hz mono.`;
    for (const track of stream.getAudioTracks()) {
      track.addEventListener('ended', () => {
        if (ended) return;
        stopCapture();
        fail('The microphone stopped (unplugged or turned off). Press Start to use it again.');
      });
    }
  } catch (err) {
    for (const t of stream.getTracks()) t.stop();
    page.capture = 'error';
    fail(`Audio processing could not start: ${err.message}`);
    return;
  }
  page.capture = 'live';
  page.micError = null;
  setStatus(statusEl, page.socket === 'ready' ? 'Live: listeners hear you now.'
    : 'Recording. Audio is kept until the server connection is back.', page.socket === 'ready' ? 'ok' : 'warn');
  armWatchdog();
  updateState();
}

function onWorklet(msg) {
  if (msg.type === 'frame') {
    showLevel(msg.peak);
    page.workletInputSamples = msg.inputTotal;
    page.workletOutputSamples += msg.pcm.byteLength / 2;
    const chunk = buffer.push(new Int16Array(msg.pcm));
    if (ws && page.socket === 'ready') {
      sendAudio(ws, chunk.pcm);
      buffer.sent = buffer.end;
    }
    updateState();
  } else if (msg.type === 'flushed' && audio) {
    const done = audio.flushes.get(msg.id);
    if (done) done();
  }
}

/** Asks the worklet for its partly filled frame; resolves once it arrived. */
function flushWorklet() {
  if (!audio) return Promise.resolve();
  const seq = ++flushSeq;
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    audio.flushes.set(seq, () => {
      clearTimeout(timer);
      resolve();
    });
    audio.node.port.postMessage({type: 'flush', id: seq});
  });
}

function stopCapture() {
  if (audio) {
    for (const t of audio.stream.getTracks()) t.stop();
    audio.ctx.close();
    audio = null;
  }
  if (page.capture === 'live' || page.capture === 'paused' || page.capture === 'starting') page.capture = 'stopped';
  showLevel(0);
  updateState();
}

function showLevel(peak) {
  const db = peak > 0 ? 20 * Math.log10(peak) : METER_FLOOR_DB;
  const pct = Math.round(Math.max(0, Math.min(1, 1 - db / METER_FLOOR_DB)) * 100);
  $('level-fill').style.width = `${pct}%`;
  $('level').setAttribute('aria-valuenow', String(pct));
  $('level').dataset.clip = peak >= 0.99 ? 'yes' : 'no';
}

function sendEndOfUtterance() {
  if (ws && page.socket === 'ready') ws.send(JSON.stringify({type: 'end'}));
}

async function pauseOrResume() {
  if (!audio) return;
  if (page.capture === 'paused') {
    await audio.ctx.resume();
    page.capture = 'live';
    setStatus(statusEl, 'Live again.', 'ok');
    armWatchdog();
  } else {
    await flushWorklet();
    await audio.ctx.suspend();
    page.capture = 'paused';
    sendEndOfUtterance(); // listeners get the sentence that was cut short now
    showLevel(0);
    clearTimeout(watchdogTimer);
    setStatus(statusEl, 'Paused: the microphone is not sent. Press Resume to continue.', 'info');
  }
  updateState();
}

async function endSession() {
  endBtn.disabled = true;
  await flushWorklet();
  stopCapture();
  sendEndOfUtterance();
  // Let the last words reach the server before the session closes.
  const deadline = Date.now() + END_DRAIN_TIMEOUT_MS;
  while (ws && buffer.pending > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    await api(`/api/sessions/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      headers: {Authorization: `Bearer ${token}`},
    });
  } catch (e) {
    if (e.code !== 'session_ended') {
      fail(`Could not end the session: ${e.message}`);
      endBtn.disabled = false;
      return;
    }
  }
  finish('Session ended. Listeners can still download the transcript from the listener page.');
}

function finish(message) {
  ended = true;
  clearTimeout(reconnectTimer);
  clearTimeout(watchdogTimer);
  stopCapture();
  if (ws) {
    const sock = ws;
    ws = null;
    sock.close(CLOSE_NORMAL);
  }
  page.socket = 'closed';
  sessionStorage.removeItem(tokenKey(id));
  sessionStorage.removeItem(listenUrlKey(id));
  setStatus(statusEl, message, 'info');
  updateState();
}

// ---- listeners, link, QR ----------------------------------------------------

function showCounts(counts) {
  page.listeners = counts;
  const items = Object.entries(counts).filter(([, n]) => n > 0).map(([code, n]) => {
    const li = document.createElement('li');
    li.textContent = `${languageName(code, languages)}: ${n}`;
    li.dataset.lang = code;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = 'No one is listening yet.';
    items.push(li);
  }
  $('counts').replaceChildren(...items);
}

function showShare() {
  const url = sessionStorage.getItem(listenUrlKey(id)) ||
    new URL(`/listen/${encodeURIComponent(id)}`, location.origin).href;
  const link = $('listen-link');
  link.href = url;
  link.textContent = url;
  const qr = $('qr');
  // A private session's QR code carries the listener key of the stored link.
  const key = new URL(url).searchParams.get('key');
  qr.src = `/api/sessions/${encodeURIComponent(id)}/qr.svg${key ? `?key=${encodeURIComponent(key)}` : ''}`;
  qr.hidden = false;
  $('copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(url);
      $('copy').textContent = 'Copied';
    } catch (e) {
      getSelection().selectAllChildren(link);
      $('copy').textContent = 'Press Ctrl+C to copy';
    }
  });
}

async function init() {
  if (!id) {
    fail('This address has no valid session code. Start a session from the home page.');
    return;
  }
  $('session-code').textContent = id;
  document.title = `Speaker ${id}: babelcast`;
  showShare();
  showCounts({});
  startBtn.addEventListener('click', startCapture);
  pauseBtn.addEventListener('click', pauseOrResume);
  endBtn.addEventListener('click', endSession);
  loadLanguages().then((l) => {
    languages = l;
    showCounts(page.listeners);
  }).catch(() => {});
  let info;
  try {
    info = await api(`/api/sessions/${encodeURIComponent(id)}`,
      token ? {headers: {Authorization: `Bearer ${token}`}} : {});
  } catch (e) {
    fail(e.status === 404 ? `There is no session with code ${id}. Start a new one from the home page.`
      : `Could not load the session: ${e.message}`);
    return;
  }
  if (info.listeners) showCounts(info.listeners);
  if (info.mode === 'simultaneous') {
    $('mode-info').textContent = 'Simultaneous mode: listeners hear each clause while you speak; pausing briefly between clauses helps.';
    $('mode-info').hidden = false;
  }
  if (info.state === 'ended') {
    finish('This session has ended.');
    return;
  }
  if (!token) {
    fail('This tab does not hold the speaker key of this session: only the tab that created it can broadcast. Start a new session from the home page.');
    return;
  }
  page.state = 'ready';
  setupGlossaryEditor(id, token, page);
  setStatus(statusEl, 'Connecting to the server…', 'info');
  connect();
}

init();
