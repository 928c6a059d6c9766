"""A stalled ingestion stream holds back only the speakers appending to it.

kinesis:// on kinesalite: a speaker streams a talk fast; kinesalite is
stopped (SIGSTOP) while audio is on its way, so every append hangs. While
it hangs the same gateway still answers HTTP (/healthz, a session's
details, /metrics) and another session's listener connects; the stalled
speaker gets no ack for audio the stream did not take, and the audio
waiting in the gateway stays bounded (its reads pause). Once kinesalite
runs again (SIGCONT) the talk completes, acknowledged in full, and the
listener is told the same finals as with the default file:// stream and
no stop."""
import asyncio
import json
import os
import signal
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from cluster import FRAME_BYTES, FRAME_S, Listener, end_session, read_talk, transcript  # noqa: E402
from harness import LIBRIVOX, Server, check, make_talk  # noqa: E402
from kinesalite import CREDENTIALS, Kinesalite  # noqa: E402

OPTIONS = "&poll_ms=50&lease_ms=1500"
# Fast enough that, without paused reads, the rest of the talk would pile
# up in the gateway during the stop.
PACE = 20.0
# Below the Kinesis request timeout (5 s): the appends in flight complete
# once kinesalite runs again. A gateway that appended on its event loop
# would answer nothing before then.
STOP_S = 3.5
# Answers already on their way when kinesalite stopped may still arrive.
SETTLE_S = 0.5
ANSWER_BOUND_S = 5.0
# The gateway pauses a speaker's reads above 64 waiting frames; what the
# socket library already read comes on top.
QUEUED_BOUND = 128
TALK_TIMEOUT_S = 240


class AckingSpeaker:
    """Streams a talk at PACE x real time and records every ack as it comes."""

    def __init__(self, server, session, audio):
        self.url = server.speaker_url(session)
        self.audio = audio
        self.acks = []  # received_samples of each ack, in arrival order
        self.sent = 0
        self.end_sent = False
        self.first_ack = asyncio.Event()

    async def _read(self, ws):
        async for msg in ws:
            m = json.loads(msg)
            if m["type"] == "ack":
                self.acks.append(m["received_samples"])
                self.first_ack.set()
                if self.end_sent and m["received_samples"] * 2 == len(self.audio):
                    return

    async def run(self):
        async with websockets.connect(self.url) as ws:
            ready = json.loads(await ws.recv())
            check(ready["type"] == "ready" and ready["received_samples"] == 0,
                  "the speaker starts at 0")
            reader = asyncio.create_task(self._read(ws))
            while self.sent < len(self.audio):
                frame = self.audio[self.sent:self.sent + FRAME_BYTES]
                await ws.send(frame)
                self.sent += len(frame)
                await asyncio.sleep(FRAME_S / PACE)
            await ws.send(json.dumps({"type": "end"}))
            self.end_sent = True
            await asyncio.wait_for(reader, TALK_TIMEOUT_S)


def timed_request(server, method, path):
    started = time.time()
    status, body = server.request(method, path)
    return status, body, time.time() - started


async def first_message(url):
    async with websockets.connect(url, open_timeout=ANSWER_BOUND_S) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), ANSWER_BOUND_S))


async def stalled_talk(server, kin, audio):
    talk_session = server.create_session(["es"])
    other = server.create_session(["es"])
    listener = Listener(server.listen_url(talk_session))
    listening = asyncio.create_task(listener.run())
    await listener.connected.wait()
    await asyncio.sleep(1.5)  # workers read listened languages every 0.5 s
    speaker = AckingSpeaker(server, talk_session, audio)
    speaking = asyncio.create_task(speaker.run())
    await asyncio.wait_for(speaker.first_ack.wait(), TALK_TIMEOUT_S)

    os.kill(kin.proc.pid, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        await asyncio.sleep(SETTLE_S)
        acks_settled = len(speaker.acks)
        accepted = speaker.acks[-1]
        status, _, took = await asyncio.to_thread(timed_request, server, "GET", "/healthz")
        check(status == 200 and took < ANSWER_BOUND_S,
              "/healthz answered while appends hang (%d in %.2f s)" % (status, took))
        status, body, took = await asyncio.to_thread(
            timed_request, server, "GET", "/api/sessions/%s" % other["id"])
        check(status == 200 and took < ANSWER_BOUND_S,
              "a session's details answered while appends hang (%d in %.2f s)" % (status, took))
        hello = await first_message(server.listen_url(other))
        check(hello["type"] == "hello", "another session's listener connects while appends hang")
        queued = await asyncio.to_thread(server.metric, "babelcast_ingest_queued_frames")
        check(queued is not None and 0 < queued <= QUEUED_BOUND,
              "the audio waiting for the stream is bounded: %s frames" % queued)
        check(time.time() < stopped_at + STOP_S,
              "all of it answered while kinesalite was still stopped")
        await asyncio.sleep(max(0.0, stopped_at + STOP_S - time.time()))
        check(len(speaker.acks) == acks_settled,
              "no ack while the stream takes nothing (%d acks, last %d samples)"
              % (len(speaker.acks), accepted))
    finally:
        os.kill(kin.proc.pid, signal.SIGCONT)

    await asyncio.wait_for(speaking, TALK_TIMEOUT_S)
    check(speaker.acks == sorted(speaker.acks) and speaker.acks[-1] * 2 == len(audio),
          "acks only grow and the last one covers the whole talk (%d samples)" % speaker.acks[-1])
    await asyncio.to_thread(end_session, server, talk_session)
    await asyncio.wait_for(listening, TALK_TIMEOUT_S)
    return listener, transcript(server, talk_session)


async def plain_talk(server, audio):
    session = server.create_session(["es"])
    listener = Listener(server.listen_url(session))
    listening = asyncio.create_task(listener.run())
    await listener.connected.wait()
    await asyncio.sleep(1.5)
    speaker = AckingSpeaker(server, session, audio)
    await asyncio.wait_for(speaker.run(), TALK_TIMEOUT_S)
    await asyncio.to_thread(end_session, server, session)
    await asyncio.wait_for(listening, TALK_TIMEOUT_S)
    return listener, transcript(server, session)


def main():
    binary = sys.argv[1]
    os.environ.update(CREDENTIALS)
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "babelcast-stall-%d.wav" % os.getpid())
    audio = read_talk(make_talk(tmp, LIBRIVOX[:2]))
    os.unlink(tmp)
    with Server(binary).start() as server:
        ref, ref_cues = asyncio.run(plain_talk(server, audio))
    kin = Kinesalite().start()
    try:
        kin.create_stream("stall", 1)
        with Server(binary, extra=["--stream", kin.url("stall", OPTIONS)]).start() as server:
            es, cues = asyncio.run(stalled_talk(server, kin, audio))
    finally:
        kin.cleanup()
    check(es.fresh() == ref.fresh(), "the finals of a talk without the stop (%d)" % len(ref.fresh()))
    check(es.ended and es.close_code == 1000, "the listener heard the end")
    check([c["text"] for c in cues] == [c["text"] for c in ref_cues],
          "the transcript of a talk without the stop")
    print("ingest_stall: all passed")


if __name__ == "__main__":
    main()
