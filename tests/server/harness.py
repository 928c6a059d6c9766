"""Starts a real babelcast server on a loopback port and drives it with real
clients: the babelcast binary's own speak/listen, HTTP, and WebSockets."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave

SPEECH_DIR = os.environ.get("BC_TEST_SPEECH_DIR", "/usr/share/pocketsphinx/test/data")
SOURCE_DIR = os.environ.get("BC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LIBRIVOX = [os.path.join(SPEECH_DIR, "librivox", "sense_and_sensibility_01_austen_64kb-%s.wav" % n)
            for n in ("0870", "0880", "0890", "0920", "0930")]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok: " + message, flush=True)


def make_talk(path, clips, gap_s=1.0, tail_s=1.0):
    """Joins 16 kHz mono clips with silence between them, as one talk."""
    frames = []
    for clip in clips:
        with wave.open(clip, "rb") as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1
            frames.append(w.readframes(w.getnframes()))
    silence = b"\0\0" * int(16000 * gap_s)
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(silence.join(frames) + b"\0\0" * int(16000 * tail_s))
    return path


class Server:
    def __init__(self, binary, data_dir=None, extra=()):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="babelcast-test-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self):
        port_file = os.path.join(self.tmp, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--web-root", os.path.join(SOURCE_DIR, "web"), "--port-file", port_file] + self.extra,
            stdout=self.log, stderr=self.log)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.dump_log()
                fail("server exited during start-up with %d" % self.proc.returncode)
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        else:
            fail("server did not start in %d s" % START_TIMEOUT_S)
        self.url = "http://127.0.0.1:%d" % self.port
        self.ws_url = "ws://127.0.0.1:%d" % self.port
        return self

    def dump_log(self):
        self.log.flush()
        with open(os.path.join(self.tmp, "server.log"), "rb") as f:
            sys.stdout.write(f.read().decode(errors="replace")[-4000:])

    def stop(self, expect_clean=True):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.dump_log()
                fail("server did not stop within %d s of SIGTERM" % STOP_TIMEOUT_S)
            if expect_clean and rc != 0:
                self.dump_log()
                fail("server exited with %d after SIGTERM" % rc)
        self.proc = None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Leaving a with block on a started server: if the block passed, stops
        the server, which must exit cleanly; on any failure prints the end of
        its log; always removes its files."""
        try:
            if exc_type is None:
                try:
                    self.stop()
                except BaseException:
                    self.dump_log()
                    raise
            else:
                self.dump_log()
        finally:
            self.cleanup()
        return False

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        if ctype.startswith("application/json") and payload:
            return resp.status, json.loads(payload)
        return resp.status, payload.decode(errors="replace")

    def speaker_url(self, session):
        return "%s/ws/speak/%s?token=%s" % (self.ws_url, session["id"], session["speaker_token"])

    def listen_url(self, session, lang="es"):
        return "%s/ws/listen/%s?lang=%s" % (self.ws_url, session["id"], lang)

    def metric(self, prefix):
        """The value of the first /metrics sample whose line starts with
        prefix (name, then labels if any), or None when there is none."""
        status, text = self.request("GET", "/metrics")
        if status != 200:
            fail("GET /metrics answered %d" % status)
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.split()[-1])
        return None

    def create_session(self, targets):
        status, body = self.request("POST", "/api/sessions", {"source": "en", "targets": targets})
        if status != 201:
            fail("session create returned %d %s" % (status, body))
        return body


class Service:
    """A process the tests need beside the server (Redis, an emulator), with
    its files in self.tmp and its process in self.proc. kill() is kill -9;
    leaving a with block kills it and removes its files."""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


class RedisServer(Service):
    """A real redis-server on a free loopback port with the append-only file
    on (fsync always, so a kill -9 loses nothing acknowledged, even on a
    busy machine), in a temporary directory. kill() is kill -9; start() again restarts
    it on the same port and directory, reading the append-only file back."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="babelcast-redis-")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.tmp,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--protected-mode", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        fail("redis-server did not start on port %d" % self.port)


GOFORWARD = os.path.join(SPEECH_DIR, "goforward.raw")


async def speak_raw(server, session, path=GOFORWARD, frame_bytes=3200):
    """Speaks a raw PCM16 16 kHz recording into the session as fast as the
    socket takes it, sends "end" and closes the speaker socket."""
    import websockets  # only where a client runs: make_talk needs none
    with open(path, "rb") as f:
        audio = f.read()
    async with websockets.connect(server.speaker_url(session)) as speaker:
        await speaker.recv()  # ready
        for off in range(0, len(audio), frame_bytes):
            await speaker.send(audio[off:off + frame_bytes])
        await speaker.send(json.dumps({"type": "end"}))


async def send_talk(ws, talk, frame_bytes):
    """Waits for "ready" on a speaker socket, then sends the samples of a WAV
    file frame_bytes at a time, as fast as the socket takes them. Returns the
    number of samples sent."""
    with wave.open(talk) as w:
        audio = w.readframes(w.getnframes())
    await ws.recv()  # ready
    for off in range(0, len(audio), frame_bytes):
        await ws.send(audio[off:off + frame_bytes])
    return len(audio) // 2


def with_server(binary, test, extra=()):
    """Starts a server from binary, runs test(server), then stops the server,
    which must exit cleanly. On any failure prints the end of the server's
    log; always removes its files."""
    with Server(binary, extra=extra).start() as server:
        test(server)


def run_with_server(name, test, extra=()):
    """with_server for the binary named on the command line, then the
    test's closing line."""
    with_server(sys.argv[1], test, extra)
    print("%s: all passed" % name)


def run(binary, *args, timeout=300, **kwargs):
    return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=timeout,
                          **kwargs)
