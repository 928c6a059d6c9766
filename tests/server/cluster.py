"""Real processes for the scale-out tests: a redis-server, gateways and
workers started from the babelcast binary with --role and --redis, and the
clients that drive them: a speaker that reconnects and resumes where the
server's log ends, and listeners that record what they are told."""
import asyncio
import json
import os
import time
import urllib.request
import wave

import websockets

from harness import RedisServer, Server, check, fail

FRAME_BYTES = 3200           # 100 ms of 16 kHz PCM16
FRAME_S = 0.1
LEASE_TTL_MS = 2000
RECONNECT_PAUSE_S = 0.3
SPEAKER_GIVE_UP_S = 120
FINALS_TIMEOUT_S = 180
CATALOG_TIMEOUT_S = 60


class Cluster:
    """A redis-server, gateways and workers, each its own process."""

    def __init__(self, binary):
        self.binary = binary
        self.redis = RedisServer().start()
        self.nodes = []

    def node(self, role):
        extra = ["--role", role, "--redis", self.redis.url, "--lease-ttl-ms", str(LEASE_TTL_MS)]
        server = Server(self.binary, extra=extra).start()
        self.nodes.append(server)
        return server

    def wait_for_catalog(self, gateway):
        deadline = time.time() + CATALOG_TIMEOUT_S
        while time.time() < deadline:
            status, _ = gateway.request("GET", "/api/languages")
            if status == 200:
                return
            time.sleep(0.2)
        fail("no worker published its languages to %s" % gateway.url)

    def dump_logs(self):
        for n in self.nodes:
            print("---- %s" % " ".join(n.extra[:2]))
            n.dump_log()

    def cleanup(self):
        for n in self.nodes:
            n.cleanup()
        self.redis.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Leaving a with block: if the block passed, stops every node, each of
        which must exit cleanly; on any failure prints the end of every node's
        log; always removes the nodes' and Redis's files."""
        try:
            if exc_type is None:
                try:
                    for n in self.nodes:
                        n.stop()
                except BaseException:
                    self.dump_logs()
                    raise
            else:
                self.dump_logs()
        finally:
            self.cleanup()
        return False


def worker_sessions(worker):
    """Sessions a worker runs now, from its /healthz (None when it is down)."""
    try:
        with urllib.request.urlopen(worker.url + "/healthz", timeout=5) as r:
            return json.loads(r.read())["worker_sessions"]
    except OSError:
        return None


def owner_of(workers, timeout_s=30):
    """The worker that runs the one live session."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for w in workers:
            if w.proc and worker_sessions(w):
                return w
        time.sleep(0.1)
    fail("no worker took the session within %d s" % timeout_s)


def read_talk(path):
    with wave.open(path) as w:
        return w.readframes(w.getnframes())


class Listener:
    """What one listener connection is told: finals by utterance, the bytes
    of speech per utterance, and how the socket closed."""

    def __init__(self, url):
        self.url = url
        self.finals = []       # (utterance, text, replay, arrival time)
        self.caption_times = []  # arrival time of every caption, partial or final
        self.audio = {}        # utterance -> bytes of speech
        self.close_code = None
        self.ended = False
        self.connected = asyncio.Event()

    async def run(self):
        try:
            async with websockets.connect(self.url, max_size=None) as ws:
                self.connected.set()
                utterance = None
                async for msg in ws:
                    if isinstance(msg, bytes):
                        if utterance is not None:
                            self.audio[utterance] = self.audio.get(utterance, 0) + len(msg)
                        continue
                    m = json.loads(msg)
                    if m["type"] == "caption":
                        self.caption_times.append(time.time())
                    if m["type"] == "caption" and m["final"]:
                        self.finals.append((m["utterance"], m["text"], m["replay"], time.time()))
                    elif m["type"] == "audio_start":
                        utterance = m["utterance"]
                    elif m["type"] == "ended":
                        self.ended = True
                self.close_code = ws.close_code
        except websockets.ConnectionClosed as e:
            self.close_code = e.code
        finally:
            self.connected.set()

    def fresh(self):
        """(utterance, text) of the finals told as new, in arrival order."""
        return [(u, t) for u, t, replay, _ in self.finals if not replay]


class Speaker:
    """Streams a talk at pace x real time to the first gateway that takes
    it; when the connection breaks, it connects again (to the next gateway
    when one is down) and resumes from what the server says its log holds."""

    def __init__(self, gateways, session, audio, pace):
        self.gateways = list(gateways)
        self.session = session
        self.audio = audio
        self.pace = pace
        self.sent = 0
        self.closes = []       # (close code, reason) of every broken connection
        self.resumes = []      # the byte offset the server's log held at every ready

    def _url(self, gw):
        return "%s/ws/speak/%s?token=%s" % (gw.ws_url, self.session["id"],
                                             self.session["speaker_token"])

    async def _stream(self, ws):
        ready = json.loads(await ws.recv())
        self.sent = ready["received_samples"] * 2
        self.resumes.append(self.sent)
        while self.sent < len(self.audio):
            frame = self.audio[self.sent:self.sent + FRAME_BYTES]
            await ws.send(frame)
            self.sent += len(frame)
            await asyncio.sleep(FRAME_S / self.pace)
        await ws.send(json.dumps({"type": "end"}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] * 2 == len(self.audio):
                return

    async def run(self):
        deadline = time.time() + SPEAKER_GIVE_UP_S
        current = 0
        while time.time() < deadline:
            gw = self.gateways[current]
            try:
                async with websockets.connect(self._url(gw), open_timeout=5) as ws:
                    await self._stream(ws)
                    return
            except websockets.ConnectionClosed as e:
                self.closes.append((e.code, e.reason))
                if e.code not in (1001, 1006, 1011, 1013, 4408, 4503):
                    fail("speaker refused for good: %d %s" % (e.code, e.reason))
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as e:
                self.closes.append((None, str(e)))
            if gw.proc is None or gw.proc.poll() is not None:
                current = (current + 1) % len(self.gateways)
            await asyncio.sleep(RECONNECT_PAUSE_S)
        fail("the speaker could not finish its talk in %d s" % SPEAKER_GIVE_UP_S)


async def wait_until(predicate, timeout_s, what):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    fail("timed out after %d s waiting for %s" % (timeout_s, what))


def end_session(gateway, session):
    status, body = gateway.request("DELETE", "/api/sessions/%s" % session["id"],
                                   headers={"Authorization": "Bearer " + session["speaker_token"]})
    check(status == 204, "the session ends (%s)" % (body,))


def transcript(gateway, session, lang="en"):
    status, body = gateway.request(
        "GET", "/api/sessions/%s/transcript?lang=%s&format=json" % (session["id"], lang))
    if status != 200:
        fail("transcript: %d %s" % (status, body))
    return body["cues"]


def check_once_each(cues, expected_utterances, words, label):
    """The utterances of an undisturbed run, each once and in order, and
    each clip's words once."""
    utterances = [c["utterance"] for c in cues]
    check(utterances == expected_utterances,
          "%s: every utterance once, in order, no gap: %s" % (label, utterances))
    text = " ".join(c["text"] for c in cues)
    for word in words:
        check(text.count(word) == 1, "%s: '%s' once" % (label, word))
