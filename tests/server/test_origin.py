"""Origin checks: pages of other sites cannot create or end sessions or
open sockets through a visitor's browser; the server's own pages, allowed
origins and clients that send no Origin (the CLI) can."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import check, run_with_server  # noqa: E402
from rawhttp import exchange, websocket_handshake  # noqa: E402

ALLOWED = "https://app.example.org"
EVIL = "http://evil.example"
BODY = json.dumps({"source": "en", "targets": []}).encode()


def live_sessions(server):
    status, body = server.request("GET", "/healthz")
    return body["sessions"]


def test(server):
    port = server.port
    own = "http://127.0.0.1:%d" % port

    # The classic form-post forgery: a text/plain body needs no preflight.
    status, headers, body = exchange(port, "POST", "/api/sessions",
                                     [("Origin", EVIL), ("Content-Type", "text/plain")], BODY)
    check(status == 403 and body.get("code") == "bad_origin" and body.get("error"),
          "cross-origin text/plain POST -> 403 bad_origin (got %d %r)" % (status, body))
    check(live_sessions(server) == 0, "the forged POST created no session")
    for origin in ("null", "http://127.0.0.1:%d.evil.example" % port, "http://127.0.0.1",
                   "https://127.0.0.1:%d" % port, "file://", "http://user@127.0.0.1:%d" % port):
        status, _, body = exchange(port, "POST", "/api/sessions",
                                   [("Origin", origin), ("Content-Type", "application/json")], BODY)
        check(status == 403 and body.get("code") == "bad_origin",
              "Origin %r -> 403 (got %d)" % (origin, status))
    check(live_sessions(server) == 0, "still no session after the refused origins")

    created = []
    for name, headers in [
        ("no Origin (a CLI client)", []),
        ("the server's own origin", [("Origin", own)]),
        ("own origin in upper case", [("Origin", own.upper())]),
        ("an --allow-origin entry", [("Origin", ALLOWED)]),
        ("the Host header's origin", [("Host", "babelcast.lan:%d" % port),
                                      ("Origin", "http://babelcast.lan:%d" % port)]),
    ]:
        status, _, body = exchange(port, "POST", "/api/sessions",
                                   headers + [("Content-Type", "application/json")], BODY)
        check(status == 201 and body.get("speaker_token"), "POST with %s -> 201 (got %d %r)"
              % (name, status, body))
        created.append(body)
    check(live_sessions(server) == len(created), "exactly the accepted POSTs made sessions")

    session = created[0]
    path = "/api/sessions/" + session["id"]
    auth = ("Authorization", "Bearer " + session["speaker_token"])
    status, _, body = exchange(port, "DELETE", path, [auth, ("Origin", EVIL)])
    check(status == 403 and body.get("code") == "bad_origin", "cross-origin DELETE -> 403")
    status, body = server.request("GET", path)
    check(body["state"] == "live", "the session survived the cross-origin DELETE")
    for method in ("PUT", "PATCH"):
        status, _, body = exchange(port, method, path, [("Origin", EVIL)], b"{}")
        check(status == 403 and body.get("code") == "bad_origin", "cross-origin %s -> 403" % method)
    status, _, body = exchange(port, "GET", path, [("Origin", EVIL)])
    check(status == 200 and body["id"] == session["id"], "a cross-origin GET is still answered")

    speak = "/ws/speak/%s?token=%s" % (session["id"], session["speaker_token"])
    listen = "/ws/listen/%s?lang=en" % session["id"]
    for name, p, origin in [("speaker", speak, EVIL), ("listener", listen, EVIL),
                            ("listener", listen, "null")]:
        status, headers, body = websocket_handshake(port, p, [("Origin", origin)])
        check(status == 403 and "sec-websocket-accept" not in headers and body.get("code") == "bad_origin",
              "%s socket from %s -> 403, no upgrade (got %d)" % (name, origin, status))
    for name, p, headers in [("speaker", speak, [("Origin", own)]),
                             ("listener", listen, [("Origin", ALLOWED)]),
                             ("listener", listen, [])]:
        status, resp, _ = websocket_handshake(port, p, headers)
        check(status == 101 and resp.get("sec-websocket-accept"),
              "%s socket with %r upgrades (got %d)" % (name, headers, status))

    status, _, body = exchange(port, "DELETE", path, [auth, ("Origin", own)])
    check(status == 204, "same-origin DELETE -> 204 (got %d)" % status)


if __name__ == "__main__":
    run_with_server("origin", test, extra=["--allow-origin", ALLOWED])
