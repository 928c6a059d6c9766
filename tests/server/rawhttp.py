"""Raw HTTP over a plain or TLS socket, for checks a client library would
hide or refuse to make (forged Origin and Host headers, WebSocket
handshakes whose answer is not 101)."""
import json
import socket
import ssl

TIMEOUT_S = 30


def connect(port, tls=False, source="127.0.0.1"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S,
                                    source_address=(source, 0))
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


def exchange(port, method, path, headers=(), body=b"", tls=False, source="127.0.0.1"):
    """Sends one request with exactly the headers given (plus Content-Length
    when there is a body) from the loopback address source and reads one
    response. Returns (status, headers
    as a lower-cased dict, body: parsed JSON when it is JSON, else bytes)."""
    lines = ["%s %s HTTP/1.1" % (method, path)]
    names = [name.lower() for name, _ in headers]
    if "host" not in names:
        lines.append("Host: 127.0.0.1:%d" % port)
    lines += ["%s: %s" % h for h in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    sock = connect(port, tls, source)
    try:
        sock.sendall(data)
        return read_response(sock)
    finally:
        sock.close()


def read_response(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 101:
        return status, headers, rest
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if headers.get("content-type", "").startswith("application/json") and rest:
        return status, headers, json.loads(rest[:length])
    return status, headers, rest[:length]


def websocket_handshake(port, path, headers=(), tls=False):
    """The server's answer to a WebSocket upgrade: (status, headers, body)."""
    base = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
    return exchange(port, "GET", path, base + list(headers), tls=tls)
