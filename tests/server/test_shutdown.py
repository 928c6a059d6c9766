"""Graceful shutdown: SIGTERM while accepted audio is still being processed
finishes the utterances in flight, stores their transcripts, sends them to
the connected listener, closes the speaker and every listener with 1001
"server shutting down" and exits 0; after a restart the session is still
live and complete."""
import asyncio
import json
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server, send_talk  # noqa: E402

FRAME_BYTES = 3200
ACK_EVERY_FRAMES = 10
LAST_FRAMES_S = 0.5
LISTENER_SETTLE_S = 0.5
CLOSE_WAIT_S = 120  # the drain finishes every utterance first
CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]


async def speak_fast_without_end(server, session, talk, closes):
    """Streams the talk at full speed; once all of it is acknowledged sends
    SIGTERM with the speaker still connected (the last utterance is never
    ended by the speaker) and waits for the server's close."""
    async with websockets.connect(server.speaker_url(session)) as ws:
        total = await send_talk(ws, talk, FRAME_BYTES)
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] >= total - FRAME_BYTES // 2 * ACK_EVERY_FRAMES:
                break
        # Acks come every ten frames: give the last few time to be appended.
        await asyncio.sleep(LAST_FRAMES_S)
        server.proc.send_signal(15)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), CLOSE_WAIT_S)
        except websockets.ConnectionClosed:
            pass
        closes["speaker"] = (ws.close_code, ws.close_reason)


async def listen_until_closed(server, session, lang, closes, finals):
    async with websockets.connect("%s/ws/listen/%s?lang=%s" % (server.ws_url, session["id"], lang),
                                  max_size=None) as ws:
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), CLOSE_WAIT_S)
                if isinstance(msg, str):
                    m = json.loads(msg)
                    if m["type"] == "caption" and m["final"]:
                        finals.append(m["text"])
        except websockets.ConnectionClosed:
            pass
        closes[lang] = (ws.close_code, ws.close_reason)


async def talk_and_stop(server, session, talk, closes, finals):
    listeners = [asyncio.create_task(listen_until_closed(server, session, lang, closes, finals[lang]))
                 for lang in ("en", "es")]
    await asyncio.sleep(LISTENER_SETTLE_S)
    await speak_fast_without_end(server, session, talk, closes)
    await asyncio.gather(*listeners)


def test(server):
    # No trailing silence: the last utterance is still open at SIGTERM.
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX, tail_s=0)
    session = server.create_session(["es"])
    closes, finals = {}, {"en": [], "es": []}
    asyncio.run(talk_and_stop(server, session, talk, closes, finals))
    rc = server.proc.wait(120)
    check(rc == 0, "SIGTERM with audio in flight exits 0 (got %d)" % rc)
    for who in ("speaker", "en", "es"):
        check(closes.get(who) == (1001, "server shutting down"),
              "%s closed with 1001 server shutting down (got %r)" % (who, closes.get(who)))
    heard = " ".join(finals["en"])
    check(CLIP_WORDS[-1] in heard,
          "the English listener got the last utterance, ended by the shutdown, before the close (%r)" % heard[-80:])
    check(len(finals["es"]) >= len(CLIP_WORDS),
          "the Spanish listener got a caption for every utterance before the close (%d)" % len(finals["es"]))
    server.proc = None
    server.start()
    status, info = server.request("GET", "/api/sessions/" + session["id"])
    check(status == 200 and info["state"] == "live", "the session survives the restart")
    status, text = server.request("GET", "/api/sessions/%s/transcript?format=txt" % session["id"])
    print(text)
    for word in CLIP_WORDS:
        check(word in text, "'%s' was transcribed before the server stopped" % word)
    status, es = server.request("GET", "/api/sessions/%s/transcript?lang=es&format=json" % session["id"])
    check(len(es["cues"]) >= len(CLIP_WORDS), "Spanish captions stored for every utterance (%d)" % len(es["cues"]))


if __name__ == "__main__":
    run_with_server("shutdown", test)
