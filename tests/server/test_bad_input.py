"""Bad input on every entry point gets its specific error, and a concurrent
healthy session is not affected."""
import asyncio
import json
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import SPEECH_DIR, check, fail, run_with_server  # noqa: E402

GOFORWARD = os.path.join(SPEECH_DIR, "goforward.raw")
FRAME_BYTES = 3200  # 100 ms of PCM16 at 16 kHz
CONNECT_CHURN = 300
CLOSE_WAIT_S = 10


async def close_code_of(url, send=None, text=None):
    """Connects, optionally sends one frame, returns the close (code, reason)."""
    async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
        try:
            if send is not None:
                await ws.send(send)
            if text is not None:
                await ws.send(text)
            while True:
                await asyncio.wait_for(ws.recv(), CLOSE_WAIT_S)
        except websockets.ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason


async def healthy_session(server, session, results):
    """A speaker streams goforward.raw in real time; an English listener
    collects the final captions."""
    finals = []

    async def listen():
        async with websockets.connect("%s/ws/listen/%s?lang=en" % (server.ws_url, session["id"])) as ws:
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 60)
                    if isinstance(msg, str):
                        m = json.loads(msg)
                        if m["type"] == "caption" and m["final"]:
                            finals.append(m["text"])
                        if m["type"] == "ended":
                            break
            except websockets.ConnectionClosed:
                pass

    async def speak():
        with open(GOFORWARD, "rb") as f:
            audio = f.read()
        url = "%s/ws/speak/%s?token=%s" % (server.ws_url, session["id"], session["speaker_token"])
        async with websockets.connect(url) as ws:
            ready = json.loads(await ws.recv())
            results["ready"] = ready
            for off in range(0, len(audio), FRAME_BYTES):
                await ws.send(audio[off:off + FRAME_BYTES])
                await asyncio.sleep(0.1)
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.sleep(1.5)
        status, _ = await asyncio.to_thread(
            server.request, "DELETE", "/api/sessions/" + session["id"],
            None, {"Authorization": "Bearer " + session["speaker_token"]})
        results["delete"] = status

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    await speak()
    await asyncio.wait_for(listener, 60)
    results["finals"] = finals


async def bad_inputs(server, victim, ended):
    ws = server.ws_url
    sid, token = victim["id"], victim["speaker_token"]
    speak = "%s/ws/speak/%s?token=%s" % (ws, sid, token)
    checks = [
        ("wrong token", "%s/ws/speak/%s?token=%s" % (ws, sid, "0" * 32), None, None, 4401),
        ("missing token", "%s/ws/speak/%s" % (ws, sid), None, None, 4401),
        ("unknown session (speaker)", "%s/ws/speak/nosuchsess?token=%s" % (ws, token), None, None, 4404),
        ("unknown session (listener)", "%s/ws/listen/nosuchsess?lang=es" % ws, None, None, 4404),
        ("ended session (speaker)", "%s/ws/speak/%s?token=%s" % (ws, ended["id"], ended["speaker_token"]), None, None, 4410),
        ("ended session (listener)", "%s/ws/listen/%s?lang=es" % (ws, ended["id"]), None, None, 4410),
        ("unknown language", "%s/ws/listen/%s?lang=xx" % (ws, sid), None, None, 4415),
        ("unknown codec", "%s/ws/listen/%s?lang=es&codec=mp3" % (ws, sid), None, None, 4415),
        ("oversized frame", speak, b"\0" * (65536 + 2), None, 4413),
        ("odd-length PCM", speak, b"\0" * 3201, None, 4400),
        ("text garbage on the speaker socket", speak, None, "this is not json", 4400),
        ("unknown control message", speak, None, json.dumps({"type": "explode"}), 4400),
        ("binary frame on the listener socket", "%s/ws/listen/%s?lang=es" % (ws, sid), b"\1\2\3\4", None, 4400),
        ("unknown socket path", "%s/ws/other/%s" % (ws, sid), None, None, 4404),
    ]
    for name, url, send, text, expected in checks:
        code, reason = await close_code_of(url, send, text)
        check(code == expected, "%s closes with %d (got %s %r)" % (name, expected, code, reason))
        check(bool(reason), "%s gives a reason" % name)

    # Hundreds of connections opened and dropped, some mid-handshake.
    async def churn(i):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            if i % 3 == 0:
                writer.write(b"GET /ws/listen/%s?lang=es HTTP/1.1\r\nHost: x\r\n" % sid.encode())
            elif i % 3 == 1:
                writer.write(b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            writer.close()
        except OSError as e:
            fail("connection %d refused: %s" % (i, e))
    await asyncio.gather(*(churn(i) for i in range(CONNECT_CHURN)))
    for i in range(CONNECT_CHURN // 3):
        async with websockets.connect("%s/ws/listen/%s?lang=es" % (ws, sid)) as conn:
            await asyncio.wait_for(conn.recv(), 10)
    check(True, "%d raw connections and %d listeners opened and dropped" % (CONNECT_CHURN, CONNECT_CHURN // 3))


def rest_checks(server, victim):
    sid, token = victim["id"], victim["speaker_token"]
    cases = [
        ("malformed JSON", "POST", "/api/sessions", b"{not json", {}, 400, "bad_json"),
        ("non-object JSON", "POST", "/api/sessions", b"[1,2]", {}, 400, "bad_json"),
        ("unknown target", "POST", "/api/sessions", b'{"targets":["xx"]}', {}, 422, "unknown_language"),
        ("unknown source", "POST", "/api/sessions", b'{"source":"fr"}', {}, 422, "unknown_language"),
        ("targets not a list", "POST", "/api/sessions", b'{"targets":"es"}', {}, 400, "bad_request"),
        ("huge body", "POST", "/api/sessions", b'{"targets":["' + b"a" * 40000 + b'"]}', {}, 413, "body_too_large"),
        ("unknown session", "GET", "/api/sessions/nosuchsess", None, {}, 404, "no_session"),
        ("delete without token", "DELETE", "/api/sessions/" + sid, None, {}, 401, "bad_token"),
        ("delete with wrong token", "DELETE", "/api/sessions/" + sid, None, {"Authorization": "Bearer " + "f" * 32}, 401, "bad_token"),
        ("transcript bad format", "GET", "/api/sessions/%s/transcript?lang=es&format=doc" % sid, None, {}, 400, "bad_format"),
        ("transcript unknown language", "GET", "/api/sessions/%s/transcript?lang=xx&format=vtt" % sid, None, {}, 422, "unknown_language"),
        ("unknown API path", "GET", "/api/nothing", None, {}, 404, "not_found"),
        ("wrong method", "PUT", "/api/sessions", b"{}", {}, 405, "bad_method"),
    ]
    for name, method, path, body, headers, status, code in cases:
        got_status, got = server.request(method, path, body, headers)
        ok = got_status == status and isinstance(got, dict) and got.get("code") == code and got.get("error")
        check(ok, "%s -> %d %s (got %d %r)" % (name, status, code, got_status, got if isinstance(got, dict) else got[:80]))
    status, body = server.request("GET", "/../../etc/passwd")
    check(status == 404, "path traversal is refused (%d)" % status)
    status, body = server.request("GET", "/api/sessions/" + sid)
    check(status == 200 and body["state"] == "live", "victim session still live after all of it")


def test(server):
    healthy = server.create_session([])
    victim = server.create_session(["es"])
    ended = server.create_session(["es"])
    status, _ = server.request("DELETE", "/api/sessions/" + ended["id"], None,
                               {"Authorization": "Bearer " + ended["speaker_token"]})
    check(status == 204, "DELETE with the token ends a session (204)")
    status, body = server.request("DELETE", "/api/sessions/" + ended["id"], None,
                                  {"Authorization": "Bearer " + ended["speaker_token"]})
    check(status == 409 and body["code"] == "session_ended", "ending twice -> 409 session_ended")

    results = {}

    async def both():
        await asyncio.gather(healthy_session(server, healthy, results), bad_inputs(server, victim, ended))
    asyncio.run(both())
    rest_checks(server, victim)
    check(results.get("ready", {}).get("type") == "ready", "speaker got ready")
    check(results.get("delete") == 204, "healthy session ended with 204")
    check(" ".join(results.get("finals", [])) == "go forward ten meters",
          "healthy session recognized 'go forward ten meters' during the abuse (got %r)" % results.get("finals"))
    status, body = server.request("GET", "/healthz")
    check(status == 200 and body["status"] == "ok", "server healthy at the end")


if __name__ == "__main__":
    run_with_server("bad_input", test)
