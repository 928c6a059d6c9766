// End-to-end test of the web pages against a running `babelcast serve`:
// a speaker page saves a glossary and streams a real recording through
// Chromium's fake microphone, a Spanish listener page shows the translated
// captions and schedules the translated speech (Opus, decoded by
// WebCodecs), a second one forced to PCM16 schedules it too, a projector
// view at 1920x1080 shows the captions large; a simultaneous session's
// listeners, Opus and PCM16, get a long sentence as several chunks and
// schedule every one of them; then a denied microphone, ending a session
// and a vanished server must each show their message.
//
// With BC_BROWSER_MODE=tls (a server with a self-signed certificate) a
// shorter pass instead: over https, a private session made through the API
// is spoken into from its speaker page and heard through its keyed listen
// link, the way a LAN audience would.
//
// Environment: BC_BASE_URL (http://127.0.0.1:PORT), BC_SERVER_PID (killed
// at the end), BC_CHROMIUM (browser executable), BC_TEST_SPEECH_DIR,
// BC_BUILD_DIR (screenshots go to its test-artifacts/), BC_BROWSER_MODE.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';
import {joinWithSilence, readWav, writeWav} from './wav.mjs';

const BASE = process.env.BC_BASE_URL;
const SERVER_PID = Number(process.env.BC_SERVER_PID || 0);
const CHROMIUM = process.env.BC_CHROMIUM || '/usr/bin/chromium';
const SPEECH_DIR = process.env.BC_TEST_SPEECH_DIR || '/usr/share/pocketsphinx/test/data';
const ARTIFACTS = path.join(process.env.BC_BUILD_DIR || os.tmpdir(), 'test-artifacts');

const PAGE_TIMEOUT_MS = 15000;
const CAPTION_TIMEOUT_MS = 60000;
const DEFAULT_WAIT_MS = 20000;
const RESAMPLE_SLACK_SAMPLES = 1600 + 256; // one unsent frame plus two render quanta
const PHONE_VIEWPORT = {width: 390, height: 844};
const MS_PER_S = 1000;
const FLOAT_SLACK_S = 1e-6;
const FRAME_SLACK_S = 0.01; // resampling may add or drop a few ms at a chunk's ends
// Translated speech of the first sentence alone lasts longer than this; the
// whole of it cannot last several times as long as the speech it translates.
const MIN_SPEECH_S = 0.5;
const MAX_SPEECH_PER_INPUT_S = 3;
const DESKTOP_VIEWPORT = {width: 1280, height: 900};
const PROJECTOR_VIEWPORT = {width: 1920, height: 1080};
// Projector captions must read from the back of a room: at least this tall.
const PROJECTOR_MIN_FONT_PX = 40;
const PROJECTOR_FINALS_SHOWN = 2;
// The glossary the speaker saves, and what it makes of the first clip.
const GLOSSARY_TEXT = 'young man\tes=mozo\nDashwood\tkeep';
const GLOSSARY_SPANISH = 'mozo';

// Two librivox clips with their reference text; the Spanish words are what
// Apertium makes of them (checked against the real server's output).
const CLIPS = [
  {file: 'sense_and_sensibility_01_austen_64kb-0880.wav', english: ['young', 'man', 'disposed'],
    spanish: ['joven', 'hombre', 'enfermo', GLOSSARY_SPANISH]},
  {file: 'sense_and_sensibility_01_austen_64kb-0930.wav', english: ['amiable', 'himself', 'might'],
    spanish: ['amable', 'incluso', 'podría', 'hecho']},
];

// A long sentence for simultaneous mode (several chunks) and what the
// engines make of it in Spanish.
const SIMUL_CLIP = {file: 'sense_and_sensibility_01_austen_64kb-0870.wav',
  spanish: ['dashwood', 'considerar', 'reloj', 'poder']};
const SIMUL_MIN_CHUNKS = 2;

const TLS_MODE = process.env.BC_BROWSER_MODE === 'tls';
const BASE_ARGS = [...(TLS_MODE ? ['--ignore-certificate-errors'] : []), '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

assert.ok(BASE, 'BC_BASE_URL must point at a running babelcast server');
fs.mkdirSync(ARTIFACTS, {recursive: true});
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'babelcast-browser-'));
const started = Date.now();
const pageErrors = [];
const cleanups = [];

function step(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);
}

let quiet = false; // page console noise is expected once the server is gone

function watch(page, name) {
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !quiet) console.log(`  (${name} console) ${m.text()}`);
  });
  page.setDefaultTimeout(DEFAULT_WAIT_MS);
  return page;
}

/** Waits for a condition on window.babelcast; the message says what did not happen. */
async function until(page, what, fn, arg, timeout = DEFAULT_WAIT_MS) {
  try {
    await page.waitForFunction(fn, arg, {timeout, polling: 100});
  } catch (e) {
    const state = await page.evaluate(() => {
      const s = window.babelcast || {};
      const status = document.getElementById('status');
      return {state: s.state, socket: s.socket, finals: s.finals, lastClose: s.lastClose,
        frames: s.audioFramesReceived, codec: s.codec, opusDecoded: s.opusPacketsDecoded,
        secondsScheduled: s.audioSecondsScheduled, codecFallback: s.codecFallback,
        status: status && status.textContent};
    }).catch(() => null);
    throw new Error(`timed out waiting for ${what}; page state: ${JSON.stringify(state)}`);
  }
}

function hasAny(texts, words) {
  const all = texts.join(' ').toLowerCase();
  return words.some((w) => all.includes(w));
}

async function shoot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({path: file, fullPage: true});
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  const viewport = page.viewportSize();
  assert.ok(width <= viewport.width, `${name}: page is ${width}px wide in a ${viewport.width}px viewport`);
  step(`screenshot ${file}`);
}

/* A persistent Chromium whose microphone plays wav once; closed at the end. */
async function launchSpeaker(profile, wav) {
  const ctx = await chromium.launchPersistentContext(path.join(tmp, profile), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: DESKTOP_VIEWPORT,
    args: [...BASE_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}%noloop`],
  });
  cleanups.push(() => ctx.close());
  return ctx;
}

function makeMicrophoneFile() {
  const clips = CLIPS.map((c) => readWav(path.join(SPEECH_DIR, 'librivox', c.file)));
  // Silence between the sentences lets the server end each utterance; the
  // trailing second is what Chromium repeats after a %noloop file ends.
  const joined = joinWithSilence(clips, 0.5, 1.5, 1.0);
  const file = path.join(tmp, 'speech.wav');
  writeWav(file, joined.rate, joined.samples);
  return {file, seconds: joined.samples.length / joined.rate};
}

/**
 * A simultaneous session: a long sentence reaches a Spanish Opus listener
 * and a PCM16 one as the same several chunks (one audio_start each), and
 * each page schedules all of it back to back: every frame or decoded
 * packet, the Opus one as many seconds as the PCM16 one up to each chunk's
 * padding to a whole frame.
 */
async function checkSimultaneous(listenerBrowser) {
  const clip = readWav(path.join(SPEECH_DIR, 'librivox', SIMUL_CLIP.file));
  const joined = joinWithSilence([clip], 0.5, 0, 1.5);
  const wav = path.join(tmp, 'simultaneous.wav');
  writeWav(wav, joined.rate, joined.samples);
  const created = await fetch(`${BASE}/api/sessions`, {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({source: 'en', targets: ['es'], mode: 'simultaneous'})});
  assert.equal(created.status, 201);
  const session = await created.json();
  const speakerCtx = await launchSpeaker('simultaneous-profile', wav);
  await speakerCtx.addInitScript(([key, token]) => sessionStorage.setItem(key, token),
    [`babelcast.speaker_token.${session.id}`, session.speaker_token]);
  const speaker = watch(speakerCtx.pages()[0] || await speakerCtx.newPage(), 'simultaneous-speaker');
  await speaker.goto(`${BASE}/speak/${encodeURIComponent(session.id)}`, {timeout: PAGE_TIMEOUT_MS});
  await until(speaker, 'the simultaneous speaker socket', () => window.babelcast.socket === 'ready');
  const ctx = await listenerBrowser.newContext({viewport: DESKTOP_VIEWPORT});
  const pages = {};
  for (const codec of ['opus', 'pcm16']) {
    const page = watch(await ctx.newPage(), `simultaneous-${codec}`);
    await page.goto(`${BASE}/listen/${encodeURIComponent(session.id)}?lang=es&codec=${codec}`,
      {timeout: PAGE_TIMEOUT_MS});
    await page.locator('#listen:not([disabled])').click();
    await until(page, `the simultaneous ${codec} listener to be live`, () => window.babelcast.state === 'live');
    pages[codec] = page;
  }
  await speaker.click('#start');
  for (const [codec, page] of Object.entries(pages)) {
    await until(page, `a simultaneous ${codec} caption with one of ${SIMUL_CLIP.spanish}`, (words) =>
      words.some((w) => window.babelcast.finals.join(' ').toLowerCase().includes(w)), SIMUL_CLIP.spanish,
    CAPTION_TIMEOUT_MS);
  }
  // Ending the session sends what is left of the sentence's audio first.
  await speaker.click('#end');
  const got = {};
  for (const [codec, page] of Object.entries(pages)) {
    await until(page, `the simultaneous ${codec} listener to see the end`, () => window.babelcast.state === 'ended');
    if (codec === 'opus') {
      await until(page, 'every Opus packet to be decoded', () =>
        window.babelcast.opusPacketsDecoded === window.babelcast.audioFramesReceived);
    }
    got[codec] = await page.evaluate(() => ({...window.babelcast}));
  }
  const {opus, pcm16} = got;
  step(`simultaneous: ${opus.audioUtterances} Opus chunks (${opus.audioSecondsScheduled.toFixed(2)} s), ` +
    `${pcm16.audioUtterances} PCM16 chunks (${pcm16.audioSecondsScheduled.toFixed(2)} s), ` +
    `finals ${JSON.stringify(pcm16.finals)}`);
  assert.ok(pcm16.audioUtterances >= SIMUL_MIN_CHUNKS, `the sentence came as ${pcm16.audioUtterances} chunks`);
  assert.equal(opus.audioUtterances, pcm16.audioUtterances, 'both listeners get the same chunks');
  assert.equal(pcm16.audioChunksScheduled, pcm16.audioFramesReceived, 'every PCM16 frame is scheduled');
  assert.equal(opus.audioChunksScheduled, opus.opusPacketsDecoded, 'every decoded packet is scheduled');
  const frameS = opus.hello.frame_ms / MS_PER_S;
  assert.ok(Math.abs(opus.audioSecondsScheduled - opus.opusPacketsDecoded * frameS) <
    FLOAT_SLACK_S * opus.opusPacketsDecoded, 'each Opus packet plays one frame');
  const padding = opus.audioUtterances * frameS;
  assert.ok(opus.audioSecondsScheduled >= pcm16.audioSecondsScheduled - FRAME_SLACK_S &&
    opus.audioSecondsScheduled <= pcm16.audioSecondsScheduled + padding + FRAME_SLACK_S,
  `Opus ${opus.audioSecondsScheduled} s against PCM16 ${pcm16.audioSecondsScheduled} s`);
  assert.ok(hasAny(pcm16.finals, SIMUL_CLIP.spanish), `Spanish words in ${JSON.stringify(pcm16.finals)}`);
  await ctx.close();
  await speakerCtx.close();
}

/** Checks a listener's scheduled speech: enough of it, not absurdly much, in the codec asked for. */
function checkListenerAudio(name, state, codec, inputSeconds) {
  assert.equal(state.codec, codec, `${name} plays ${codec}`);
  assert.equal(state.hello.codec, codec, `${name}: the server confirms ${codec}`);
  assert.equal(state.codecFallback, null, `${name} did not fall back: ${state.codecFallback}`);
  assert.ok(state.audioSecondsScheduled >= MIN_SPEECH_S && state.audioSecondsScheduled <= inputSeconds * MAX_SPEECH_PER_INPUT_S,
    `${name}: ${state.audioSecondsScheduled} s of speech scheduled for ${inputSeconds.toFixed(1)} s spoken`);
  if (codec === 'opus') {
    assert.ok(state.opusPacketsDecoded > 0 && state.opusPacketsDecoded <= state.audioFramesReceived,
      `${name}: ${state.opusPacketsDecoded} Opus packets decoded of ${state.audioFramesReceived} received`);
    // Each packet decodes to exactly one frame_ms chunk, at whatever rate the decoder outputs.
    const frameS = state.hello.frame_ms / MS_PER_S;
    assert.ok(frameS > 0, `${name}: hello names the Opus frame duration (${state.hello.frame_ms} ms)`);
    assert.equal(state.audioChunksScheduled, state.opusPacketsDecoded, `${name}: one chunk per decoded packet`);
    assert.ok(Math.abs(state.audioSecondsScheduled - state.opusPacketsDecoded * frameS) < FLOAT_SLACK_S * state.opusPacketsDecoded,
      `${name}: ${state.opusPacketsDecoded} packets became ${state.audioSecondsScheduled} s, not ${frameS} s each`);
  } else {
    assert.equal(state.opusPacketsDecoded, 0, `${name} decodes no Opus`);
  }
}

/** The projector view shows the last two finals large on a dark page, the QR, and controls only on demand. */
async function checkProjector(projector, finals) {
  await until(projector, 'the projector to show the finals', (n) => window.babelcast.finals.length >= n,
    finals.length, CAPTION_TIMEOUT_MS);
  await projector.mouse.move(1, 1); // the pointer rests in a corner, then goes idle
  await projector.waitForTimeout(3500);
  const view = await projector.evaluate(() => {
    const shown = [...document.querySelectorAll('#finals p.final')]
      .filter((p) => getComputedStyle(p).display !== 'none').map((p) => p.textContent);
    const captions = getComputedStyle(document.getElementById('captions'));
    const qr = document.getElementById('join-qr');
    const qrBox = qr.getBoundingClientRect();
    return {shown, finals: window.babelcast.finals, fontPx: parseFloat(captions.fontSize), background: getComputedStyle(document.body).backgroundColor,
      qrLoaded: qr.complete && qr.naturalWidth > 0, qrRight: qrBox.right, qrTop: qrBox.top,
      controlsOpacity: getComputedStyle(document.querySelector('.controls')).opacity,
      header: getComputedStyle(document.querySelector('header.site')).display};
  });
  step(`projector: ${JSON.stringify(view)}`);
  assert.deepEqual(view.finals.slice(0, finals.length), finals, 'the projector got the listener\'s captions');
  assert.deepEqual(view.shown, view.finals.slice(-PROJECTOR_FINALS_SHOWN), 'the projector shows the last two finals');
  assert.ok(view.fontPx >= PROJECTOR_MIN_FONT_PX, `projector captions are ${view.fontPx}px`);
  assert.equal(view.background, 'rgb(13, 15, 18)', 'the projector page is dark');
  assert.ok(view.qrLoaded && view.qrRight > PROJECTOR_VIEWPORT.width / 2 && view.qrTop < PROJECTOR_VIEWPORT.height / 2,
    'the join QR code sits in the top right corner');
  assert.equal(view.controlsOpacity, '0', 'no controls while the pointer rests');
  assert.equal(view.header, 'none', 'no page header on the projector');
  await shoot(projector, 'listener-projector-1080p');
  await projector.mouse.move(400, 300);
  await until(projector, 'the controls to show when the pointer moves',
    () => getComputedStyle(document.querySelector('.controls')).opacity === '1');
}

async function main() {
  const {file: wav, seconds: spokenSeconds} = makeMicrophoneFile();
  step(`fake microphone file ${wav} (${spokenSeconds.toFixed(1)} s)`);

  const speakerCtx = await launchSpeaker('speaker-profile', wav);
  const listenerBrowser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, '--autoplay-policy=no-user-gesture-required'],
  });
  cleanups.push(() => listenerBrowser.close());
  const listenerCtx = await listenerBrowser.newContext({viewport: DESKTOP_VIEWPORT});

  // ---- home page: create a session with Spanish ----
  const speaker = watch(speakerCtx.pages()[0] || await speakerCtx.newPage(), 'speaker');
  await speaker.goto(`${BASE}/`, {timeout: PAGE_TIMEOUT_MS});
  await speaker.locator('#create:not([disabled])').waitFor();
  await speaker.check('#target-es');
  await shoot(speaker, 'home-desktop');
  // A full server (503 server_full, as a gateway answers when no worker has
  // room): the page says so and when to try again, and creation stays possible.
  await speaker.route('**/api/sessions', (route) => (route.request().method() === 'POST'
    ? route.fulfill({status: 503, contentType: 'application/json', headers: {'Retry-After': '10'},
      body: JSON.stringify({error: 'the server is at capacity', code: 'server_full'})})
    : route.continue()));
  await speaker.click('#create');
  await speaker.locator('#status', {hasText: 'server is full'}).waitFor();
  assert.match(await speaker.locator('#status').innerText(), /server is full.*Try again in 10 s/);
  await speaker.unroute('**/api/sessions');
  await speaker.locator('#create:not([disabled])').waitFor();
  step('a full server is reported on the home page');
  await speaker.click('#create');
  await speaker.waitForURL(/\/speak\/[^/]+$/, {timeout: PAGE_TIMEOUT_MS});
  const id = decodeURIComponent(new URL(speaker.url()).pathname.split('/')[2]);
  assert.ok(!speaker.url().includes('token'), 'the speaker token must not be in the URL');
  step(`session ${id} created through the home page`);
  await until(speaker, 'the speaker socket to be ready', () => window.babelcast.socket === 'ready');

  // ---- glossary editor: a bad line is refused with its reason, then saved ----
  await speaker.locator('#glossary:not([disabled])').waitFor();
  await speaker.fill('#glossary', 'young man\tzz=nope');
  await speaker.click('#glossary-save');
  await until(speaker, 'the bad glossary to be refused', () => window.babelcast.glossaryError !== null);
  assert.match(await speaker.locator('#glossary-status').innerText(), /line 1.*unknown language 'zz'/);
  await speaker.fill('#glossary', GLOSSARY_TEXT);
  await speaker.click('#glossary-save');
  await until(speaker, 'the glossary to be saved', () => window.babelcast.glossaryVersion === 1);
  assert.match(await speaker.locator('#glossary-status').innerText(), /Saved 2 terms/);
  const saved = await (await fetch(`${BASE}/api/sessions/${encodeURIComponent(id)}/glossary`)).json();
  assert.deepEqual(saved.glossary, [{term: 'young man', translations: {es: 'mozo'}}, {term: 'Dashwood', keep: true}]);
  step('glossary saved from the speaker page');

  // ---- listener joins in Spanish before the speaker starts ----
  const listener = watch(await listenerCtx.newPage(), 'listener');
  await listener.goto(`${BASE}/listen/${encodeURIComponent(id)}`, {timeout: PAGE_TIMEOUT_MS});
  await listener.locator('#lang:not([disabled])').waitFor();
  await listener.selectOption('#lang', 'es');
  await listener.click('#listen');
  await until(listener, 'the Spanish listener to be live', () => window.babelcast.state === 'live');
  await until(speaker, 'the speaker to count one Spanish listener', () => window.babelcast.listeners.es === 1);
  assert.match(await speaker.locator('#counts').innerText(), /Spanish: 1|es: 1/);
  assert.equal(await listener.evaluate(() => window.babelcast.codec), 'opus',
    'Chromium decodes Opus with WebCodecs, so the listener asks for it');

  // A second Spanish listener forced to the uncompressed path.
  const pcmListener = watch(await listenerCtx.newPage(), 'pcm-listener');
  await pcmListener.goto(`${BASE}/listen/${encodeURIComponent(id)}?lang=es&codec=pcm16`, {timeout: PAGE_TIMEOUT_MS});
  await pcmListener.locator('#listen:not([disabled])').click();
  await until(pcmListener, 'the PCM16 listener to be live', () => window.babelcast.state === 'live');
  assert.equal(await pcmListener.evaluate(() => window.babelcast.codec), 'pcm16', '?codec=pcm16 forces PCM16');

  // A projector in the room: the Spanish captions, large, with no click.
  const projectorCtx = await listenerBrowser.newContext({viewport: PROJECTOR_VIEWPORT});
  const projector = watch(await projectorCtx.newPage(), 'projector');
  await projector.goto(`${BASE}/listen/${encodeURIComponent(id)}?lang=es&view=projector`, {timeout: PAGE_TIMEOUT_MS});
  await until(projector, 'the projector view to be live by itself', () => window.babelcast.state === 'live');
  assert.equal(await projector.evaluate(() => window.babelcast.view), 'projector');

  // ---- speak: first sentence, a dropped connection, second sentence ----
  await speaker.click('#start');
  await until(speaker, 'the speaker to go live', () => window.babelcast.state === 'live' && window.babelcast.framesSent > 0);
  step(`speaker live, microphone at ${await speaker.evaluate(() => window.babelcast.sampleRate)} Hz`);
  await until(speaker, 'the input level meter to show speech',
    () => Number(document.getElementById('level').getAttribute('aria-valuenow')) > 20);
  await until(listener, `a Spanish caption with one of ${CLIPS[0].spanish}`, (words) =>
    words.some((w) => window.babelcast.finals.join(' ').toLowerCase().includes(w)), CLIPS[0].spanish,
  CAPTION_TIMEOUT_MS);
  step(`listener finals: ${JSON.stringify(await listener.evaluate(() => window.babelcast.finals))}`);
  // Settled words must never be redrawn: the first final line stays the same node.
  const firstFinal = await listener.evaluate(() => {
    window.firstFinalLine = document.querySelector('#finals p.final');
    return window.firstFinalLine.textContent;
  });

  await speaker.evaluate(() => window.babelcast.dropConnection());
  await until(speaker, 'the speaker to notice the drop', () => window.babelcast.reconnects >= 1);
  await until(speaker, 'the speaker to reconnect', () => window.babelcast.socket === 'ready', null, 30000);
  step(`speaker reconnected; the server held ${await speaker.evaluate(() => window.babelcast.lastReadySamples)} samples`);

  await until(listener, `a Spanish caption with one of ${CLIPS[1].spanish}`, (words) =>
    words.some((w) => window.babelcast.finals.join(' ').toLowerCase().includes(w)), CLIPS[1].spanish,
  CAPTION_TIMEOUT_MS);
  const speakerState = await speaker.evaluate(() => ({finals: window.babelcast.finals,
    captured: window.babelcast.samplesCaptured, dropped: window.babelcast.droppedSamples}));
  step(`speaker finals: ${JSON.stringify(speakerState.finals)}`);
  assert.ok(hasAny(speakerState.finals, [...CLIPS[0].english, ...CLIPS[1].english]),
    `the speaker page shows English captions: ${JSON.stringify(speakerState.finals)}`);
  assert.equal(speakerState.dropped, 0, 'no audio may be dropped across a reconnect');
  await until(speaker, 'the server to acknowledge all audio captured so far',
    (n) => window.babelcast.ackedSamples >= n, speakerState.captured);
  // The worklet must resample by the context's real rate: its output count
  // matches its input count scaled to 16 kHz (within the frame being filled).
  const rate = await speaker.evaluate(() => [window.babelcast.workletInputSamples,
    window.babelcast.workletOutputSamples, window.babelcast.sampleRate]);
  const expectedOut = (rate[0] * 16000) / rate[2];
  assert.ok(Math.abs(rate[1] - expectedOut) <= RESAMPLE_SLACK_SAMPLES,
    `${rate[0]} samples at ${rate[2]} Hz became ${rate[1]} at 16 kHz, expected about ${Math.round(expectedOut)}`);
  const counts = await speaker.evaluate(() => [window.babelcast.ackedSamples, window.babelcast.samplesCaptured]);
  assert.ok(counts[0] <= counts[1], `the server holds ${counts[0]} samples of ${counts[1]} captured: audio was sent twice`);
  assert.equal(await listener.evaluate(() => window.firstFinalLine.isConnected &&
    window.firstFinalLine.textContent), firstFinal, 'the first final caption line stays in place');

  // ---- listener: captions, audio, latency, controls, transcript ----
  await until(listener, 'translated audio to be scheduled', (minSeconds) =>
    window.babelcast.audioFramesReceived > 0 && window.babelcast.audioChunksScheduled > 0 &&
    window.babelcast.opusPacketsDecoded > 0 && window.babelcast.audioSecondsScheduled >= minSeconds, MIN_SPEECH_S);
  await until(pcmListener, 'translated audio to be scheduled from PCM16', (minSeconds) =>
    window.babelcast.audioFramesReceived > 0 && window.babelcast.audioChunksScheduled > 0 &&
    window.babelcast.audioSecondsScheduled >= minSeconds, MIN_SPEECH_S);
  const ls = await listener.evaluate(() => ({...window.babelcast, dom: {
    finals: document.querySelectorAll('#finals p.final').length,
    partialStyle: getComputedStyle(document.getElementById('partial')).fontStyle,
    latency: document.getElementById('latency').textContent,
    audio: window.babelcast.audioContextState,
  }}));
  step(`listener: ${ls.partialsReceived} partial and ${ls.finals.length} final captions, ` +
    `${ls.audioFramesReceived} audio frames (${ls.codec}, ${ls.opusPacketsDecoded} decoded), ` +
    `${ls.audioChunksScheduled} scheduled (${ls.audioSecondsScheduled.toFixed(1)} s), latency ${ls.dom.latency}`);
  checkListenerAudio('the Spanish listener', ls, 'opus', spokenSeconds);
  const pcm = await pcmListener.evaluate(() => ({...window.babelcast,
    audioState: window.babelcast.audioContextState}));
  step(`PCM16 listener: ${pcm.finals.length} final captions, ${pcm.audioFramesReceived} audio frames, ` +
    `${pcm.audioChunksScheduled} scheduled (${pcm.audioSecondsScheduled.toFixed(1)} s)`);
  checkListenerAudio('the PCM16 listener', pcm, 'pcm16', spokenSeconds);
  assert.equal(pcm.audioState, 'running', 'the PCM16 listener AudioContext runs after the Listen click');
  assert.ok(hasAny(pcm.finals, [...CLIPS[0].spanish, ...CLIPS[1].spanish]),
    `the PCM16 listener shows the Spanish captions too: ${JSON.stringify(pcm.finals)}`);
  await pcmListener.close();
  assert.equal(ls.dom.finals, ls.finals.length, 'one caption line per final');
  assert.equal(ls.dom.partialStyle, 'italic', 'tentative text is italic');
  assert.equal(typeof ls.lastLatencyMs, 'number');
  assert.match(ls.dom.latency, /\d+ ms/);
  assert.equal(ls.dom.audio, 'running', 'the listener AudioContext runs after the Listen click');
  await listener.click('#mute');
  assert.equal(await listener.getAttribute('#mute', 'aria-pressed'), 'true');
  assert.equal(await listener.evaluate(() => window.babelcast.muted), true);
  await speaker.click('#pause');
  await until(speaker, 'the speaker to pause', () => window.babelcast.state === 'paused');
  assert.equal(await speaker.getAttribute('#pause', 'aria-pressed'), 'true');
  await speaker.click('#pause');
  await until(speaker, 'the speaker to resume', () => window.babelcast.state === 'live');

  const vttHref = await listener.getAttribute('#dl-vtt', 'href');
  assert.match(vttHref, /lang=es&format=vtt/);
  const vtt = await (await fetch(new URL(vttHref, BASE))).text();
  assert.ok(vtt.startsWith('WEBVTT'), `VTT transcript: ${vtt.slice(0, 80)}`);
  assert.ok(hasAny([vtt], [...CLIPS[0].spanish, ...CLIPS[1].spanish]), `Spanish words in the VTT: ${vtt}`);
  assert.equal(await speaker.evaluate(() => document.getElementById('qr').naturalWidth > 0), true,
    'the QR code image loads');

  await checkProjector(projector, ls.finals);
  await projectorCtx.close();

  await shoot(speaker, 'speaker-desktop');
  await shoot(listener, 'listener-desktop');
  await speaker.setViewportSize(PHONE_VIEWPORT);
  await listener.setViewportSize(PHONE_VIEWPORT);
  await shoot(speaker, 'speaker-phone');
  await shoot(listener, 'listener-phone');

  // ---- home page on a phone: join by pasting the listener link ----
  const home = watch(await listenerCtx.newPage(), 'home');
  await home.setViewportSize(PHONE_VIEWPORT);
  await home.goto(`${BASE}/`, {timeout: PAGE_TIMEOUT_MS});
  await home.locator('#create:not([disabled])').waitFor();
  await shoot(home, 'home-phone');
  await home.fill('#code', await speaker.locator('#listen-link').innerText());
  await home.press('#code', 'Enter');
  await home.waitForURL(new RegExp(`/listen/${id}$`), {timeout: PAGE_TIMEOUT_MS});
  await home.close();

  // ---- a simultaneous session: several chunks, all of them scheduled ----
  await checkSimultaneous(listenerBrowser);
  step('simultaneous chunks scheduled by both listeners');

  // ---- a second session: denied microphone, then ended by its speaker ----
  const created = await fetch(`${BASE}/api/sessions`, {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({source: 'en', targets: ['es']})});
  assert.equal(created.status, 201);
  const second = await created.json();
  const deniedCtx = await chromium.launchPersistentContext(path.join(tmp, 'denied-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: PHONE_VIEWPORT,
    args: [...BASE_ARGS, '--use-fake-device-for-media-stream', '--deny-permission-prompts'],
  });
  cleanups.push(() => deniedCtx.close());
  await deniedCtx.addInitScript(([key, token]) => sessionStorage.setItem(key, token),
    [`babelcast.speaker_token.${second.id}`, second.speaker_token]);
  const denied = watch(deniedCtx.pages()[0] || await deniedCtx.newPage(), 'denied');
  await denied.goto(`${BASE}/speak/${encodeURIComponent(second.id)}`, {timeout: PAGE_TIMEOUT_MS});
  await until(denied, 'the second speaker socket', () => window.babelcast.socket === 'ready');
  const listener2 = watch(await listenerCtx.newPage(), 'listener2');
  await listener2.goto(`${BASE}/listen/${encodeURIComponent(second.id)}?lang=es`, {timeout: PAGE_TIMEOUT_MS});
  await listener2.locator('#listen:not([disabled])').click();
  await until(listener2, 'the second listener to be live', () => window.babelcast.state === 'live');

  await denied.click('#start');
  await until(denied, 'the denied microphone to be reported', () => window.babelcast.capture === 'denied');
  assert.match(await denied.locator('#status').innerText(), /Microphone access was denied/);
  await shoot(denied, 'speaker-mic-denied-phone');
  step('denied microphone reported');

  // A second tab with the key takes the broadcast over; the first must stop, not fight back.
  const takeover = watch(await deniedCtx.newPage(), 'takeover');
  await takeover.goto(`${BASE}/speak/${encodeURIComponent(second.id)}`, {timeout: PAGE_TIMEOUT_MS});
  await until(takeover, 'the second tab to connect', () => window.babelcast.socket === 'ready');
  await until(denied, 'the first tab to hand over', () => window.babelcast.state === 'error');
  assert.match(await denied.locator('#status').innerText(), /took over/);
  assert.equal(await denied.locator('#start').isDisabled(), true);
  step('a second speaker tab took over; the first stopped');

  await takeover.click('#end');
  await until(takeover, 'the second speaker to end', () => window.babelcast.state === 'ended');
  await until(listener2, 'the second listener to see the end', () => window.babelcast.state === 'ended');
  assert.match(await listener2.locator('#status').innerText(), /ended/);
  const after = await (await fetch(`${BASE}/api/sessions/${encodeURIComponent(second.id)}`)).json();
  assert.equal(after.state, 'ended');
  step('ending a session reaches its listener');

  // ---- the server goes away ----
  if (SERVER_PID) {
    quiet = true;
    process.kill(SERVER_PID, 'SIGTERM');
    await until(speaker, 'the speaker to report the lost server', () => window.babelcast.state === 'reconnecting');
    await until(listener, 'the listener to report the lost server', () => window.babelcast.state === 'reconnecting');
    assert.match(await speaker.locator('#status').innerText(), /Reconnecting/);
    assert.match(await listener.locator('#status').innerText(), /Reconnecting/);
    await shoot(listener, 'listener-server-gone-phone');
    step('lost server reported on both pages');
  } else {
    step('BC_SERVER_PID not set: skipping the lost-server check');
  }
  assert.deepEqual(pageErrors, [], 'uncaught errors in the pages');
}

async function tlsMain() {
  const {file: wav} = makeMicrophoneFile();
  const speakerCtx = await launchSpeaker('speaker-profile', wav);
  const listenerBrowser = await chromium.launch({executablePath: CHROMIUM, headless: true,
    args: [...BASE_ARGS, '--autoplay-policy=no-user-gesture-required']});
  cleanups.push(() => listenerBrowser.close());

  // A private session, made the way the home page makes one, from its origin.
  const speaker = watch(speakerCtx.pages()[0] || await speakerCtx.newPage(), 'speaker');
  await speaker.goto(`${BASE}/`, {timeout: PAGE_TIMEOUT_MS});
  assert.equal(await speaker.evaluate(() => window.isSecureContext), true, 'https is a secure context');
  const created = await speaker.evaluate(async () => {
    const res = await fetch('/api/sessions', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({targets: ['es'], private: true})});
    const s = await res.json();
    sessionStorage.setItem(`babelcast.speaker_token.${s.id}`, s.speaker_token);
    sessionStorage.setItem(`babelcast.listen_url.${s.id}`, s.listen_url);
    return s;
  });
  assert.ok(created.listener_key && created.listen_url.startsWith('https://') &&
    created.listen_url.includes(`key=${created.listener_key}`), `a keyed https link: ${created.listen_url}`);
  step(`private session ${created.id} created over https`);
  await speaker.goto(`${BASE}/speak/${encodeURIComponent(created.id)}`, {timeout: PAGE_TIMEOUT_MS});
  await until(speaker, 'the speaker socket to be ready over wss', () => window.babelcast.socket === 'ready');
  const qrOk = await speaker.evaluate(async () => (await fetch(document.getElementById('qr').src)).ok);
  assert.ok(qrOk, 'the speaker page shows the QR code of its private session');

  const listener = watch(await (await listenerBrowser.newContext({viewport: PHONE_VIEWPORT})).newPage(), 'listener');
  const bare = `${BASE}/listen/${encodeURIComponent(created.id)}`;
  await listener.goto(bare, {timeout: PAGE_TIMEOUT_MS});
  await until(listener, 'the keyless listener page to refuse', () => window.babelcast.state === 'error');
  await listener.goto(`${created.listen_url}&lang=es`, {timeout: PAGE_TIMEOUT_MS});
  await listener.locator('#listen:not([disabled])').click();
  await until(listener, 'the keyed listener to be live', () => window.babelcast.state === 'live');
  await speaker.click('#start');
  await until(speaker, 'the speaker to go live', () => window.babelcast.state === 'live' && window.babelcast.framesSent > 0);
  await until(listener, `a Spanish caption with one of ${CLIPS[0].spanish}`, (words) =>
    words.some((w) => window.babelcast.finals.join(' ').toLowerCase().includes(w)), CLIPS[0].spanish,
  CAPTION_TIMEOUT_MS);
  step(`listener finals over wss: ${JSON.stringify(await listener.evaluate(() => window.babelcast.finals))}`);
  if (SERVER_PID) {
    quiet = true;
    process.kill(SERVER_PID, 'SIGTERM');
  }
  assert.deepEqual(pageErrors, [], 'uncaught errors in the pages');
}

let failed = false;
try {
  await (TLS_MODE ? tlsMain() : main());
  quiet = true;
  step('PASS');
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e.stack || e}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join('\n')}`);
} finally {
  quiet = true;
  for (const c of cleanups.reverse()) await c().catch(() => {});
  fs.rmSync(tmp, {recursive: true, force: true});
}
process.exit(failed ? 1 : 0);
