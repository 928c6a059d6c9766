"""Requests a client library would never send, written on raw sockets: each
gets exactly one well-formed answer with a JSON error (or a proper refusal
of the WebSocket upgrade), never a silent close, a hang or a doubled
response; links in the web root do not lead out of it. Run under the
sanitizer build, the server must also exit cleanly (no UB, no leak)."""
import base64
import json
import os
import shutil
import socket
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import SOURCE_DIR, check, run_with_server  # noqa: E402

READ_TIMEOUT_S = 15
GOOD_KEY = base64.b64encode(b"0123456789abcdef").decode()


def read_response(sock):
    """Reads one HTTP response: (status, reason, headers, body, rest), where
    rest is whatever followed the body before the server closed or went
    quiet. status is None when the connection closed without an answer."""
    sock.settimeout(READ_TIMEOUT_S)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return None, "timeout", {}, b"", data
        if not chunk:
            return None, "closed", {}, b"", data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    body, rest = rest[:length], rest[length:]
    # Anything more (a second status line) arrives at once or not at all.
    sock.settimeout(1.0)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except socket.timeout:
        pass
    return status, reason, headers, body, rest


def exchange(server, raw):
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(raw)
        return read_response(sock)


def expect_error(server, name, raw, status, code):
    got, reason, headers, body, rest = exchange(server, raw)
    check(got == status, "%s -> %s (got %s %s)" % (name, status, got, reason))
    check(reason != "", "%s has a reason phrase (%r)" % (name, reason))
    error = json.loads(body) if headers.get("content-type", "").startswith("application/json") else {}
    check(error.get("code") == code and error.get("error"),
          "%s names the problem: %s (got %r)" % (name, code, body[:120]))
    check(rest == b"", "%s is answered once (then %r)" % (name, rest[:80]))
    return headers


def post(body, extra=b""):
    return (b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def upgrade(version=b"13", key=GOOD_KEY.encode(), path=b"/ws/listen/nosuchsess?lang=es"):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: " + version + b"\r\n\r\n")


def framing(server):
    base = b"POST /api/sessions HTTP/1.1\r\nHost: x\r\n"
    expect_error(server, "empty body", base + b"Content-Length: 0\r\n\r\n", 400, "bad_json")
    expect_error(server, "Content-Length: abc", base + b"Content-Length: abc\r\n\r\n", 400, "bad_length")
    expect_error(server, "Content-Length: -5", base + b"Content-Length: -5\r\n\r\n", 400, "bad_length")
    expect_error(server, "Content-Length: 1e20", base + b"Content-Length: 1e20\r\n\r\n", 400, "bad_length")
    expect_error(server, "chunked with a Content-Length",
                 base + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                 400, "bad_framing")
    expect_error(server, "chunked without a Content-Length",
                 base + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411, "length_required")
    expect_error(server, "POST without a Content-Length", base + b"\r\n", 411, "length_required")
    expect_error(server, "5000-byte URL", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 414, "uri_too_long")
    expect_error(server, "9 KB of headers",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n",
                 431, "headers_too_large")


def bodies(server):
    expect_error(server, "trailing garbage after the JSON", post(b'{"targets":["es"]} xyz'), 400, "bad_json")
    expect_error(server, "a NUL inside a language", post(b'{"targets":["es\\u0000xx"]}'), 400, "bad_json")
    expect_error(server, "16 duplicate targets", post(json.dumps({"targets": ["es"] * 16}).encode()),
                 400, "bad_request")
    status, reason, _, body, rest = exchange(server, post(b'{"targets":["es"]}  \r\n'))
    check(status == 201 and reason == "Created" and rest == b"",
          "a good body with trailing white space -> 201 Created (got %s %s)" % (status, reason))
    session = json.loads(body)
    status, reason, _, _, _ = exchange(
        server, b"DELETE /api/sessions/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
        % (session["id"].encode(), session["speaker_token"].encode()))
    check(status == 204 and reason == "No Content", "DELETE -> 204 No Content (got %s %r)" % (status, reason))
    return session


def query_values(server, session):
    sid = session["id"]
    expect_error(server, "a 400-character transcript lang",
                 b"GET /api/sessions/%s/transcript?lang=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (sid.encode(), b"e" * 400),
                 400, "bad_request")
    expect_error(server, "a 400-character transcript format",
                 b"GET /api/sessions/%s/transcript?format=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (sid.encode(), b"j" * 400),
                 400, "bad_format")


def ws_close_of(server, path):
    """Upgrades on a raw socket, returns (close code, reason) of the server's
    first close frame."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(upgrade(path=path))
        status, _, _, _, rest = read_response(sock)
        check(status == 101, "upgrade on %s -> 101 (got %s)" % (path[:40], status))
        data = rest
        sock.settimeout(READ_TIMEOUT_S)
        while len(data) < 2 or len(data) < 2 + (data[1] & 0x7f):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        if len(data) < 4 or data[0] & 0x0f != 8:
            return None, data
        n = data[1] & 0x7f
        return struct.unpack(">H", data[2:4])[0], data[4:2 + n].decode()


def websockets_handshake(server, session):
    for version in (b"8", b"99"):
        headers = expect_error(server, "Sec-WebSocket-Version %s" % version.decode(), upgrade(version=version),
                               426, "bad_websocket_version")
        check(headers.get("sec-websocket-version") == "13", "426 names version 13")
    for key in (b"not base64!", b"c2hvcnQ=", base64.b64encode(b"seventeen bytes!!")):
        expect_error(server, "Sec-WebSocket-Key %r" % key, upgrade(key=key), 400, "bad_websocket_key")
    live = server.create_session(["es"])
    code, reason = ws_close_of(server, b"/ws/listen/%s?lang=%s" % (live["id"].encode(), b"e" * 400))
    check(code == 4415, "a 400-character listener lang closes with 4415 (got %s %r)" % (code, reason))
    code, reason = ws_close_of(server, b"/ws/listen/%s?lang=es&codec=%s" % (live["id"].encode(), b"o" * 400))
    check(code == 4415, "a 400-character listener codec closes with 4415 (got %s %r)" % (code, reason))


def links(server):
    status, _, _, body, _ = exchange(server, b"GET /inside.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status == 200 and body == b"inside\n", "a file in the web root is served (got %s)" % status)
    for path in (b"/leak.txt", b"/leakdir/secret.txt"):
        status, _, _, body, _ = exchange(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        check(status == 404 and b"outside" not in body,
              "a link out of the web root is not followed: %s -> 404 (got %s)" % (path.decode(), status))


def make_web_root(tmp):
    root = os.path.join(tmp, "web")
    shutil.copytree(os.path.join(SOURCE_DIR, "web"), root)
    outside = os.path.join(tmp, "outside")
    os.mkdir(outside)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write("outside\n")
    with open(os.path.join(root, "inside.txt"), "w") as f:
        f.write("inside\n")
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "leak.txt"))
    os.symlink(outside, os.path.join(root, "leakdir"))


def test(server):
    framing(server)
    session = bodies(server)
    query_values(server, session)
    websockets_handshake(server, session)
    links(server)
    status, body = server.request("GET", "/healthz")
    check(status == 200 and body["status"] == "ok", "server healthy after all of it")


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="babelcast-web-")
    try:
        make_web_root(tmp)
        run_with_server("http_framing", test, extra=["--web-root", os.path.join(tmp, "web")])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
