"""Crash safety: kill -9 the server while accepted audio is still being
processed, restart it on the same data directory, and the audio accepted
before the kill produces its captions; a listener that reconnects is not
told or played anything twice."""
import asyncio
import json
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server, send_talk  # noqa: E402

FRAME_BYTES = 3200
# Words of each clip that the recognizer gets right in this talk.
CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]
RECOVERY_TIMEOUT_S = 120
KILL_AFTER_FINALS = 2


class Listener:
    """Collects what one listener connection receives."""

    def __init__(self):
        self.finals = []   # (utterance, text, replay)
        self.audio_starts = []

    async def run(self, url, stop):
        try:
            async with websockets.connect(url, max_size=None) as ws:
                while not stop.is_set():
                    try:
                        msg = await asyncio.wait_for(ws.recv(), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    if isinstance(msg, bytes):
                        continue
                    m = json.loads(msg)
                    if m["type"] == "caption" and m["final"]:
                        self.finals.append((m["utterance"], m["text"], m["replay"]))
                    elif m["type"] == "audio_start":
                        self.audio_starts.append(m["utterance"])
        except websockets.ConnectionClosed:
            pass  # the server was killed under us


async def speak_fast(server, session, talk):
    async with websockets.connect(server.speaker_url(session)) as ws:
        total = await send_talk(ws, talk, FRAME_BYTES)
        await ws.send(json.dumps({"type": "end"}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "ack" and m["received_samples"] == total:
                return total


async def scenario(server, session, talk):
    url = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])
    first, stop = Listener(), asyncio.Event()
    task = asyncio.create_task(first.run(url, stop))
    await asyncio.sleep(0.5)
    total = await speak_fast(server, session, talk)
    # Every sample is acknowledged; kill once some of it has been processed.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_TIMEOUT_S
    while len(first.finals) < KILL_AFTER_FINALS and loop.time() < deadline:
        await asyncio.sleep(0.05)
    server.kill()
    stop.set()
    await task
    print("before the kill: %d finals, %d audio utterances" % (len(first.finals), len(first.audio_starts)))
    check(KILL_AFTER_FINALS <= len(first.finals) < len(CLIP_WORDS) * 2,
          "the kill came while audio was still being processed")

    server.start()
    url = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])  # a new port
    second, stop = Listener(), asyncio.Event()
    task = asyncio.create_task(second.run(url, stop))
    deadline = loop.time() + RECOVERY_TIMEOUT_S
    text = ""
    while loop.time() < deadline:
        status, text = await asyncio.to_thread(
            server.request, "GET", "/api/sessions/%s/transcript?format=txt" % session["id"])
        if status == 200 and text.count(CLIP_WORDS[-1]) >= 2:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # let the speech of the last finals arrive
    stop.set()
    await task
    return total, first, second, text


def test(server):
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX + LIBRIVOX)
    session = server.create_session(["es"])
    total, first, second, text = asyncio.run(scenario(server, session, talk))
    print("English transcript after the restart:\n" + text)
    for word in CLIP_WORDS:
        check(text.count(word) == 2, "'%s' recognized in both copies of its clip" % word)
    replayed = [f for f in second.finals if f[2]]
    fresh = [f for f in second.finals if not f[2]]
    check(len(replayed) > 0 or len(first.finals) == 0, "the reconnected listener first got the recent captions again (%d)" % len(replayed))
    told = [u for u, _, r in first.finals] + [u for u, _, r in fresh]
    check(len(told) == len(set(told)), "no final caption delivered twice as new: %s" % told)
    spoken = first.audio_starts + second.audio_starts
    check(len(spoken) == len(set(spoken)), "no utterance spoken twice: %s" % spoken)
    status, es = server.request("GET", "/api/sessions/%s/transcript?lang=es&format=json" % session["id"])
    utterances = [c["utterance"] for c in es["cues"]]
    check(utterances == sorted(set(utterances)) and len(utterances) >= len(CLIP_WORDS) * 2,
          "the Spanish transcript has every utterance once, in order: %s" % utterances)


if __name__ == "__main__":
    run_with_server("crash", test)
