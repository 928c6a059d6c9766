"""Private sessions: POST {"private": true} answers a listener key (and a
listen_url carrying it); the listener socket, the session details, the
transcript and the QR code then need the key or the speaker token (401 /
close 4401 otherwise); public sessions stay open to all."""
import asyncio
import json
import os
import re
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import SPEECH_DIR, check, fail, run_with_server  # noqa: E402
from rawhttp import exchange  # noqa: E402

GOFORWARD = os.path.join(SPEECH_DIR, "goforward.raw")
FRAME_BYTES = 3200
WAIT_S = 60


async def close_of(url):
    async with websockets.connect(url) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT_S)
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason


async def sockets(server, session, key):
    base = "%s/ws/listen/%s?lang=en" % (server.ws_url, session["id"])
    for name, url in [("no key", base), ("a wrong key", base + "&key=" + "0" * 32),
                      ("the key of another session", base + "&key=" + "f" * 32)]:
        code, reason = await close_of(url)
        check(code == 4401 and reason, "listener with %s closes 4401 (got %s %r)" % (name, code, reason))
    async with websockets.connect(base + "&token=" + session["speaker_token"]) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        check(hello["type"] == "hello", "the speaker token opens the listener socket too")
    finals = []
    async with websockets.connect(base + "&key=" + key) as listener:
        hello = json.loads(await asyncio.wait_for(listener.recv(), WAIT_S))
        check(hello["type"] == "hello", "the listener key opens the listener socket")
        with open(GOFORWARD, "rb") as f:
            audio = f.read()
        async with websockets.connect(server.speaker_url(session)) as speaker:
            await speaker.recv()
            for off in range(0, len(audio), FRAME_BYTES):
                await speaker.send(audio[off:off + FRAME_BYTES])
            await speaker.send(json.dumps({"type": "end"}))
            while not finals:
                msg = json.loads(await asyncio.wait_for(listener.recv(), WAIT_S))
                if msg["type"] == "caption" and msg["final"]:
                    finals.append(msg["text"])
    check(finals == ["go forward ten meters"], "the keyed listener hears the speaker (%r)" % finals)


def test(server):
    port = server.port
    status, body = server.request("POST", "/api/sessions", {"targets": ["es"], "private": True})
    check(status == 201, "private session created (%d)" % status)
    key = body.get("listener_key", "")
    check(re.fullmatch("[0-9a-f]{32}", key) is not None and body.get("private") is True,
          "the answer carries a listener key (%r)" % key)
    check(body["listen_url"].endswith("/listen/%s?key=%s" % (body["id"], key)),
          "listen_url carries the key (%s)" % body["listen_url"])
    session = body
    status, body = server.request("POST", "/api/sessions", {"targets": ["es"], "private": "yes"})
    check(status == 400 and body["code"] == "bad_request", "private must be a boolean (%d)" % status)
    status, public = server.request("POST", "/api/sessions", {"targets": ["es"]})
    check("listener_key" not in public and public["private"] is False and "?" not in public["listen_url"],
          "a public session has no key")

    sid = session["id"]
    for path in ("/api/sessions/%s" % sid, "/api/sessions/%s/transcript?lang=en" % sid,
                 "/api/sessions/%s/qr.svg" % sid):
        sep = "&" if "?" in path else "?"
        for name, p, headers in [("no key", path, []),
                                 ("a wrong key", path + sep + "key=" + "0" * 32, []),
                                 ("a wrong bearer", path, [("Authorization", "Bearer " + "0" * 32)])]:
            status, _, got = exchange(port, "GET", p, headers)
            check(status == 401 and got.get("code") == "bad_key",
                  "GET %s with %s -> 401 bad_key (got %d)" % (path, name, status))
        for name, p, headers in [("the key", path + sep + "key=" + key, []),
                                 ("the key as bearer", path, [("Authorization", "Bearer " + key)]),
                                 ("the speaker token", path,
                                  [("Authorization", "Bearer " + session["speaker_token"])])]:
            status, _, got = exchange(port, "GET", p, headers)
            check(status == 200, "GET %s with %s -> 200 (got %d)" % (path, name, status))
    status, body = server.request("GET", "/api/sessions/" + public["id"])
    check(status == 200, "a public session's details need no key")
    status, page = server.request("GET", "/listen/%s?key=%s" % (sid, key))
    check(status == 200 and "<html" in page.lower(), "the listener page is served with the key")
    status, js = server.request("GET", "/js/listen.js")
    if status != 200 or "searchParams.get('key')" not in js:
        fail("the listener page does not pass its key on")
    asyncio.run(sockets(server, session, key))
    status, body = server.request("GET", "/api/sessions/%s/transcript?lang=en&format=txt&key=%s"
                                  % (sid, key))
    check(status == 200 and "go forward ten meters" in body, "the keyed transcript (%r)" % body)


if __name__ == "__main__":
    run_with_server("private", test)
