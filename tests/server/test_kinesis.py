"""The kinesis:// ingestion stream end to end, against kinesalite, on a
stream of 2 shards (leases and checkpoints in the data directory: one
process).

0. A stream that does not exist stops the server at start (exit 1, a clear
   error).
1. Flow: several sessions, on both shards, talk at once; each listener gets
   the same finals and speech as a server with the default file:// stream
   gives for the same talk, and the transcripts are the same.
2. kill -9 of the server while accepted audio is still being processed,
   restart on the same data directory: the transcript is complete, every
   utterance once and in order, and no final is told twice.
3. The same with a gateway and a worker in two processes sharing Redis
   (leases and checkpoints there): kill -9 of the worker mid-talk, a new
   worker takes the shards over once their leases expire."""
import asyncio
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Listener, Speaker, end_session, read_talk, transcript, wait_until  # noqa: E402
from harness import LIBRIVOX, RedisServer, Server, check, make_talk  # noqa: E402
from kinesalite import CREDENTIALS, Kinesalite, shard_of  # noqa: E402

SESSIONS_PER_SHARD = 2
SESSIONS_MAX_TRIES = 64
PACE = 3.0
KILL_AFTER_FINALS = 2
RECOVERY_TIMEOUT_S = 240
# Short polls and leases keep the test quick; the defaults are for AWS.
OPTIONS = "&poll_ms=50&lease_ms=1500"
SPEECH_TOLERANCE = 0.01
CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]


async def talk_all(server, sessions, audio):
    """Each session: a Spanish listener, then its speaker; then the end."""
    listeners = [Listener(server.listen_url(s)) for s in sessions]
    tasks = [asyncio.create_task(l.run()) for l in listeners]
    for l in listeners:
        await l.connected.wait()
    await asyncio.sleep(1.5)  # workers read listened languages every 0.5 s
    await asyncio.gather(*[Speaker([server], s, audio, PACE).run() for s in sessions])
    for s in sessions:
        await asyncio.to_thread(end_session, server, s)
    await asyncio.wait_for(asyncio.gather(*tasks), RECOVERY_TIMEOUT_S)
    return listeners


def reference(binary, audio, n_sessions=1):
    with Server(binary).start() as server:
        sessions = [server.create_session(["es"]) for _ in range(n_sessions)]
        listeners = asyncio.run(talk_all(server, sessions, audio))
        es = listeners[0]
        cues = transcript(server, sessions[0])
    return es, cues


def same_speech(got, want):
    """The same utterances spoken, each about as long: with several sessions
    at once, a synthesized utterance's length varies by a few samples from
    run to run whatever the stream (seen with file:// too)."""
    return got.keys() == want.keys() and all(
        abs(got[u] - want[u]) <= want[u] * SPEECH_TOLERANCE for u in want)


def sessions_on_both_shards(server):
    """Creates sessions until SESSIONS_PER_SHARD fall on each shard (the
    server must not limit creations per address: ids are random)."""
    chosen = {0: [], 1: []}
    for _ in range(SESSIONS_MAX_TRIES):
        s = server.create_session(["es"])
        shard = chosen[shard_of(s["id"])]
        if len(shard) < SESSIONS_PER_SHARD:
            shard.append(s)
        if all(len(v) == SESSIONS_PER_SHARD for v in chosen.values()):
            return chosen[0] + chosen[1]
    raise AssertionError("no sessions on both shards after %d tries" % SESSIONS_MAX_TRIES)


def test_flow(binary, kin, audio, ref):
    ref_es, ref_cues = ref
    kin.create_stream("flow", 2)
    with Server(binary, extra=["--stream", kin.url("flow", OPTIONS), "--session-rate", "0"]).start() as server:
        sessions = sessions_on_both_shards(server)
        listeners = asyncio.run(talk_all(server, sessions, audio))
        for i, (s, es) in enumerate(zip(sessions, listeners)):
            check(es.fresh() == ref_es.fresh(),
                  "session %d (shard %d): the finals of the file:// stream (%d)"
                  % (i, shard_of(s["id"]), len(ref_es.fresh())))
            check(same_speech(es.audio, ref_es.audio),
                  "session %d: the same utterances spoken (%s vs %s)" % (i, es.audio, ref_es.audio))
            check(es.ended and es.close_code == 1000, "session %d: the listener heard the end" % i)
            cues = transcript(server, s)
            check([c["text"] for c in cues] == [c["text"] for c in ref_cues],
                  "session %d: the transcript of the file:// stream" % i)


async def kill_and_restart(server, session, audio, worker=None):
    """Talks into server's session; kill -9 of worker (default: the server)
    after the first finals, then starts it again and ends the session."""
    worker = worker or server
    first = Listener(server.listen_url(session))
    task = asyncio.create_task(first.run())
    await first.connected.wait()
    await asyncio.sleep(1.5)
    # Every sample is acknowledged, so it is in the stream, before the kill.
    await Speaker([server], session, audio, pace=100).run()
    await wait_until(lambda: len(first.fresh()) >= KILL_AFTER_FINALS, RECOVERY_TIMEOUT_S,
                     "the first finals")
    worker.kill()
    if worker is server:
        await task
    told_before = len(first.fresh())
    check(told_before < len(CLIP_WORDS), "the kill came while audio was still being processed (%d finals told)"
          % told_before)
    worker.start()
    if worker is not server:
        await asyncio.to_thread(end_session, server, session)
        await asyncio.wait_for(task, RECOVERY_TIMEOUT_S)
        return first, Listener(None)
    second = Listener(server.listen_url(session))
    task = asyncio.create_task(second.run())
    await second.connected.wait()
    await asyncio.to_thread(end_session, server, session)
    await asyncio.wait_for(task, RECOVERY_TIMEOUT_S)
    return first, second


def check_complete(server, session, first, second, ref_utterances):
    check(first.ended or second.ended, "after the kill the session ran to its end")
    told = [u for u, _ in first.fresh()] + [u for u, _ in second.fresh()]
    check(told == sorted(set(told)), "no final told twice, none out of order: %s" % told)
    cues = transcript(server, session)
    utterances = [c["utterance"] for c in cues]
    check(utterances == ref_utterances,
          "the transcript has every utterance of the talk once, in order: %s" % utterances)
    text = " ".join(c["text"] for c in cues)
    for word in CLIP_WORDS:
        check(text.count(word) == 1, "'%s' once in the transcript" % word)


def test_killed(binary, kin, audio, ref_utterances):
    kin.create_stream("killed", 2)
    with Server(binary, extra=["--stream", kin.url("killed", OPTIONS)]).start() as server:
        session = server.create_session(["es"])
        first, second = asyncio.run(kill_and_restart(server, session, audio))
        check_complete(server, session, first, second, ref_utterances)


def test_worker_killed(binary, kin, audio, ref_utterances):
    kin.create_stream("shared", 2)
    with RedisServer().start() as redis:
        extra = ["--redis", redis.url, "--stream", kin.url("shared", OPTIONS)]
        with Server(binary, extra=["--role", "worker"] + extra).start() as worker, \
                Server(binary, extra=["--role", "gateway"] + extra).start() as gateway:
            deadline = time.time() + RECOVERY_TIMEOUT_S
            while gateway.request("GET", "/api/languages")[0] != 200 and time.time() < deadline:
                time.sleep(0.2)  # the worker publishes its languages
            session = gateway.create_session(["es"])
            first, second = asyncio.run(kill_and_restart(gateway, session, audio, worker))
            check_complete(gateway, session, first, second, ref_utterances)


def test_missing_stream(binary, kin):
    """A stream that does not exist: the server says so and exits 1."""
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.run([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
                               "--stream", kin.url("no-such-stream")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=120)
    check(proc.returncode == 1 and "Kinesis stream 'no-such-stream' not found" in proc.stdout,
          "a missing stream stops the server at start with a clear error (%d: %s)"
          % (proc.returncode, proc.stdout.strip()[-300:]))


def main():
    binary = sys.argv[1]
    os.environ.update(CREDENTIALS)
    kin = Kinesalite().start()
    try:
        tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "babelcast-kinesis-%d.wav" % os.getpid())
        short = read_talk(make_talk(tmp, LIBRIVOX[:2]))
        full = read_talk(make_talk(tmp, LIBRIVOX))
        os.unlink(tmp)
        test_missing_stream(binary, kin)
        test_flow(binary, kin, short, reference(binary, short, 2 * SESSIONS_PER_SHARD))
        _, full_cues = reference(binary, full)
        test_killed(binary, kin, full, [c["utterance"] for c in full_cues])
        test_worker_killed(binary, kin, full, [c["utterance"] for c in full_cues])
    finally:
        kin.cleanup()
    print("kinesis: all passed")


if __name__ == "__main__":
    main()
