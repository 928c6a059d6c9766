"""TLS: --tls-self-signed makes a certificate once (0600 files in
DATA_DIR/tls, naming localhost and 127.0.0.1) and reuses it; https and wss
are served on the one port and a whole session runs over them; the public
URL defaults to https; --tls-cert/--tls-key serve a given certificate."""
import asyncio
import http.client
import json
import os
import socket
import ssl
import stat
import subprocess
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import SPEECH_DIR, Server, check, fail  # noqa: E402
from rawhttp import exchange, read_response, websocket_handshake  # noqa: E402

GOFORWARD = os.path.join(SPEECH_DIR, "goforward.raw")
FRAME_BYTES = 3200
WAIT_S = 60


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def https(server, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=30, context=unverified())
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers or {})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    if resp.getheader("Content-Type", "").startswith("application/json") and payload:
        return resp.status, json.loads(payload)
    return resp.status, payload.decode(errors="replace")


async def session_over_wss(server, prefix):
    status, session = https(server, "POST", "/api/sessions", {"targets": ["es"]})
    check(status == 201, "POST over https -> 201 (%d)" % status)
    check(session["listen_url"].startswith(prefix), "links use the public URL (%s)" % session["listen_url"])
    base = "wss://127.0.0.1:%d" % server.port
    finals = []
    async with websockets.connect("%s/ws/listen/%s?lang=en" % (base, session["id"]),
                                  ssl=unverified()) as listener:
        await listener.recv()  # hello
        with open(GOFORWARD, "rb") as f:
            audio = f.read()
        url = "%s/ws/speak/%s?token=%s" % (base, session["id"], session["speaker_token"])
        async with websockets.connect(url, ssl=unverified()) as speaker:
            await speaker.recv()
            for off in range(0, len(audio), FRAME_BYTES):
                await speaker.send(audio[off:off + FRAME_BYTES])
            await speaker.send(json.dumps({"type": "end"}))
            while not finals:
                msg = json.loads(await asyncio.wait_for(listener.recv(), WAIT_S))
                if msg["type"] == "caption" and msg["final"]:
                    finals.append(msg["text"])
    check(finals == ["go forward ten meters"], "a session over wss recognized its speech (%r)" % finals)
    # The origin of a page served over https is https://host:port.
    status, _, _ = websocket_handshake(server.port, "/ws/listen/%s?lang=en" % session["id"],
                                       [("Origin", "https://127.0.0.1:%d" % server.port)], tls=True)
    check(status == 101, "a page of the server's own https origin opens a socket (%d)" % status)
    status, _, body = exchange(server.port, "POST", "/api/sessions",
                               [("Origin", "http://127.0.0.1:%d" % server.port)], b"{}", tls=True)
    check(status == 403, "the plain-http origin is another origin (%d)" % status)


def self_signed(binary):
    server = Server(binary, extra=["--tls-self-signed", "--public-url",
                                   "https://babelcast.lan:8443/"]).start()
    tls_dir = os.path.join(server.data_dir, "tls")
    try:
        cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
        check(stat.S_IMODE(os.stat(tls_dir).st_mode) == 0o700, "DATA_DIR/tls is 0700")
        for path in (cert, key):
            check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "%s is 0600" % os.path.basename(path))
        decoded = ssl._ssl._test_decode_cert(cert)
        names = decoded.get("subjectAltName", ())
        check(("DNS", "localhost") in names and ("IP Address", "127.0.0.1") in names and
              ("DNS", "babelcast.lan") in names,
              "the certificate names localhost, 127.0.0.1 and the public host (%r)" % (names,))
        with open(cert, "rb") as f:
            first = f.read()
        status, body = https(server, "GET", "/healthz")
        check(status == 200 and body["status"] == "ok", "GET /healthz over https")
        status, page = https(server, "GET", "/")
        check(status == 200 and "<html" in page.lower(), "the home page over https")
        try:
            plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            plain.request("GET", "/healthz")
            answered = plain.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            answered = False
        check(not answered, "plain http is not served on the TLS port")
        # Browsers offer HTTP/2 first; the server must answer in HTTP/1.1.
        ctx = unverified()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=30),
                             server_hostname="localhost") as sock:
            chosen = sock.selected_alpn_protocol()
            sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Length: 2\r\n\r\n{}")
            status, _, body = read_response(sock)
        check(chosen in (None, "http/1.1") and status == 201,
              "a client offering h2 gets HTTP/1.1 and its POST answered (%r %d)" % (chosen, status))
        asyncio.run(session_over_wss(server, "https://babelcast.lan:8443/listen/"))
        server.stop()
        server.start()
        with open(cert, "rb") as f:
            check(f.read() == first, "the certificate is reused after a restart")
        status, body = https(server, "GET", "/healthz")
        check(status == 200, "and served again")
        server.stop()
        given = Server(binary, extra=["--tls-cert", cert, "--tls-key", key]).start()
        try:
            status, body = https(given, "GET", "/healthz")
            check(status == 200, "--tls-cert/--tls-key serve https")
            status, session = https(given, "POST", "/api/sessions", {})
            check(session["listen_url"].startswith("https://127.0.0.1:%d/listen/" % given.port),
                  "the public URL defaults to https (%s)" % session["listen_url"])
            given.stop()
        finally:
            given.cleanup()
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.cleanup()


def usage(binary):
    for args, what in [(["--tls-cert", "x.pem"], "--tls-cert without --tls-key"),
                       (["--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"], "both kinds")]:
        done = subprocess.run([binary, "serve"] + args, capture_output=True, text=True, timeout=30)
        check(done.returncode == 2 and "--tls" in done.stderr, "%s is a usage error (%d %r)"
              % (what, done.returncode, done.stderr.strip()))
    done = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    for option in ("--tls-cert", "--tls-self-signed", "--allow-origin", "--session-rate",
                   "--idle-session-s", "--retention-days"):
        if option not in done.stdout:
            fail("serve --help does not mention %s" % option)
    check(True, "serve --help documents the new options")


def main():
    binary = sys.argv[1]
    usage(binary)
    self_signed(binary)
    print("tls: all passed")


if __name__ == "__main__":
    main()
