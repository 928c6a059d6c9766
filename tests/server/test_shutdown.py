"""Graceful shutdown: SIGTERM while accepted audio is still being processed
finishes the utterances in flight, stores their transcripts and exits 0;
after a restart the session is still live and complete."""
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
CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]


async def speak_fast_without_end(server, session, talk):
    """Streams the talk at full speed and returns once all of it is
    acknowledged; the last utterance is never ended by the speaker."""
    async with websockets.connect(server.speaker_url(session)) as ws:
        total = await send_talk(ws, talk, FRAME_BYTES)
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] >= total - FRAME_BYTES // 2 * ACK_EVERY_FRAMES:
                break
        # Acks come every ten frames: give the last few time to be appended.
        await asyncio.sleep(LAST_FRAMES_S)
        server.proc.send_signal(15)  # SIGTERM with the speaker still connected


def test(server):
    # No trailing silence: the last utterance is still open at SIGTERM.
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX, tail_s=0)
    session = server.create_session(["es"])
    asyncio.run(speak_fast_without_end(server, session, talk))
    rc = server.proc.wait(120)
    check(rc == 0, "SIGTERM with audio in flight exits 0 (got %d)" % rc)
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
