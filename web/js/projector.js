// Projector view of the listener page (?view=projector): the chosen
// language's captions large on a dark full-screen page, the join QR code in
// a corner, and the listening controls only while the pointer moves.

const CONTROLS_VISIBLE_MS = 3000;
const VIEW_PARAM = 'view';
const PROJECTOR = 'projector';

export function isProjectorView() {
  return new URL(location.href).searchParams.get(VIEW_PARAM) === PROJECTOR;
}

/** The address of the projector view of the current listener page. */
export function projectorUrl() {
  const url = new URL(location.href);
  url.searchParams.set(VIEW_PARAM, PROJECTOR);
  return url.toString();
}

/** Turns the page into the projector view. keyParam: "key=..." of a private session, or ''. */
export function enterProjectorView(sessionId, keyParam) {
  document.body.classList.add(PROJECTOR);
  const qr = document.getElementById('join-qr');
  // The code carries the plain listener link (with a private session's key).
  qr.src = `/api/sessions/${encodeURIComponent(sessionId)}/qr.svg${keyParam ? `?${keyParam}` : ''}`;
  qr.hidden = false;
  let timer = 0;
  const reveal = () => {
    document.body.classList.add('show-controls');
    clearTimeout(timer);
    timer = setTimeout(() => document.body.classList.remove('show-controls'), CONTROLS_VISIBLE_MS);
  };
  for (const type of ['pointermove', 'pointerdown', 'keydown']) document.addEventListener(type, reveal);
}
