"""A speaker resumes after a crash: kill -9 the server in the middle of an
utterance, restart it on the same data directory, and the speaker's new
connection is told exactly how much audio the log holds (not 0, not the
last acknowledgement). Resuming from there gives every sentence once, on a
timeline as long as the talk."""
import asyncio
import json
import os
import sys
import time
import wave

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server  # noqa: E402

FRAME_BYTES = 3200            # 100 ms
ACK_EVERY_FRAMES = 10         # the server acknowledges every 10th frame
CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]
TRANSCRIPT_TIMEOUT_S = 180
# Where the first connection stops: inside the third clip (clips are 2.9-6.7 s
# with 1 s pauses), a whole number of acknowledgement periods.
CUT_FRAMES = 130
# The last caption may end a little after the audio: the recognizer's frames.
TIMELINE_SLACK_MS = 500


async def send_frames(ws, audio, start, stop):
    for off in range(start, stop, FRAME_BYTES):
        await ws.send(audio[off:min(off + FRAME_BYTES, stop)])


async def first_connection(server, session, audio):
    cut = CUT_FRAMES * FRAME_BYTES
    async with websockets.connect(server.speaker_url(session)) as ws:
        ready = json.loads(await ws.recv())
        check(ready["type"] == "ready" and ready["received_samples"] == 0, "a new session starts at 0")
        await send_frames(ws, audio, 0, cut)
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] == cut // 2:
                break
    return cut


async def second_connection(server, session, audio):
    async with websockets.connect(server.speaker_url(session)) as ws:
        ready = json.loads(await ws.recv())
        resume = ready["received_samples"] * 2
        await send_frames(ws, audio, resume, len(audio))
        await ws.send(json.dumps({"type": "end"}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] * 2 == len(audio):
                break
    return ready["received_samples"]


def test(server):
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX)
    with wave.open(talk) as w:
        audio = w.readframes(w.getnframes())
    session = server.create_session(["es"])
    cut = asyncio.run(first_connection(server, session, audio))
    server.kill()
    server.start()
    ready_samples = asyncio.run(second_connection(server, session, audio))
    check(ready_samples == cut // 2,
          "after the restart, ready reports what the log holds: %d samples (sent %d)"
          % (ready_samples, cut // 2))
    status, _ = server.request("DELETE", "/api/sessions/%s" % session["id"],
                               headers={"Authorization": "Bearer " + session["speaker_token"]})
    check(status == 204, "the session ends")
    deadline = time.time() + TRANSCRIPT_TIMEOUT_S
    while time.time() < deadline:
        status, body = server.request("GET", "/api/sessions/%s/transcript?format=json" % session["id"])
        text = " ".join(c["text"] for c in body["cues"]) if status == 200 else ""
        if CLIP_WORDS[-1] in text:
            break
        time.sleep(0.5)
    print("transcript: " + text)
    for word in CLIP_WORDS:
        check(text.count(word) == 1, "'%s' is in the transcript once" % word)
    talk_ms = len(audio) // 2 // 16
    last_end = body["cues"][-1]["end_ms"]
    check(last_end <= talk_ms + TIMELINE_SLACK_MS,
          "the timeline ends with the audio: last caption ends at %d ms, the talk is %d ms"
          % (last_end, talk_ms))


if __name__ == "__main__":
    run_with_server("resume", test)
