"""Scale-out across processes: a real redis-server, two gateways and two
workers, each its own babelcast process.

1. Flow: speaker on gateway A, a Spanish listener on A and a Catalan one on
   B get the same finals and the same amount of speech as an all-in-one
   server gives for the same recording.
2. kill -9 of the worker that owns the session mid-talk: the other worker
   takes over; every final reaches the listener once; the transcript has no
   gap and no duplicate. Prints the takeover time.
3. kill -9 of gateway A mid-talk: the speaker reconnects to B and goes on;
   the listener on B is not disturbed; nothing acknowledged is lost.
4. SIGSTOP of the owner until its lease expires, then SIGCONT: the stalled
   worker's late writes are refused (fencing); nothing is told twice.
5. kill -9 of redis-server mid-talk, restarted from its append-only file:
   audio offered meanwhile is refused (close 1013), never acknowledged and
   lost; gateways and workers reconnect and the session completes."""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from cluster import (Cluster, Listener, Speaker, check_once_each, end_session, owner_of,  # noqa: E402
                     read_talk, transcript, wait_until, worker_sessions, FINALS_TIMEOUT_S,
                     LEASE_TTL_MS)
from harness import LIBRIVOX, Server, check, make_talk  # noqa: E402

CLIP_WORDS = ["dashwood", "young man", "cold hearted", "amiable woman", "amiable himself"]
PACE = 2.0               # the talk is sent at twice real time
KILL_AFTER_FINALS = 2    # disturb the cluster once this many finals were heard
LISTEN_SETTLE_S = 1.5    # workers read listened languages every 0.5 s
REDIS_DOWN_S = 3


def node_log(node):
    node.log.flush()
    with open(os.path.join(node.tmp, "server.log"), errors="replace") as f:
        return f.read()


async def talk_with_listeners(speaker_gateways, session, audio, listeners, disturb=None,
                              pace=PACE):
    """Runs the listeners, then the speaker; calls disturb(first_listener)
    (a coroutine) once KILL_AFTER_FINALS finals were heard; ends the session
    and waits for every listener to be told it ended."""
    tasks = [asyncio.create_task(l.run()) for l in listeners]
    for l in listeners:
        await l.connected.wait()
    await asyncio.sleep(LISTEN_SETTLE_S)
    speaker = Speaker(speaker_gateways, session, audio, pace)
    speak = asyncio.create_task(speaker.run())
    if disturb:
        await wait_until(lambda: len(listeners[0].fresh()) >= KILL_AFTER_FINALS, FINALS_TIMEOUT_S,
                         "the first finals")
        await disturb(listeners[0])
    await speak
    end_gateway = next(g for g in speaker_gateways if g.proc and g.proc.poll() is None)
    await asyncio.to_thread(end_session, end_gateway, session)
    await asyncio.wait_for(asyncio.gather(*tasks), FINALS_TIMEOUT_S)
    return speaker


def reference_run(binary, talk_path):
    """The all-in-one server on the same recording: finals and speech."""
    with Server(binary).start() as server:
        session = server.create_session(["es"])
        es, ca = Listener(server.listen_url(session, "es")), Listener(server.listen_url(session, "ca"))
        asyncio.run(talk_with_listeners([server], session, read_talk(talk_path), [es, ca]))
        cues = transcript(server, session)
    return es, ca, cues


def test_flow(cluster, gw_a, gw_b, talk, reference):
    ref_es, ref_ca, ref_cues = reference
    session = gw_a.create_session(["es"])
    es, ca = Listener(gw_a.listen_url(session, "es")), Listener(gw_b.listen_url(session, "ca"))
    asyncio.run(talk_with_listeners([gw_a], session, read_talk(talk), [es, ca]))
    check(es.fresh() == ref_es.fresh(),
          "Spanish finals on gateway A equal the all-in-one server's (%d)" % len(ref_es.fresh()))
    check(ca.fresh() == ref_ca.fresh(),
          "Catalan finals on gateway B equal the all-in-one server's (%d)" % len(ref_ca.fresh()))
    check(es.audio == ref_es.audio and ca.audio == ref_ca.audio,
          "the same speech, utterance by utterance, in both languages")
    check(es.ended and ca.ended and es.close_code == 1000 and ca.close_code == 1000,
          "both listeners are told the session ended and closed with 1000")
    cues = transcript(gw_b, session)
    check([c["text"] for c in cues] == [c["text"] for c in ref_cues],
          "the transcript read through gateway B equals the all-in-one server's")


def check_told_once(listener, ref_utterances, label):
    told = [u for u, _ in listener.fresh()]
    check(sorted(told) == told and len(told) == len(set(told)),
          "%s: no final told twice or out of order: %s" % (label, told))
    check(set(told) <= set(ref_utterances), "%s: only utterances of the talk" % label)


def test_worker_killed(cluster, gw_a, gw_b, workers, talk, ref_utterances):
    session = gw_a.create_session(["es"])
    es = Listener(gw_b.listen_url(session, "es"))
    killed = {}

    async def kill_owner(first):
        owner = owner_of(workers)
        killed["worker"] = owner
        killed["finals"] = len(first.fresh())
        owner.kill()
        killed["at"] = time.time()

    asyncio.run(talk_with_listeners([gw_a], session, read_talk(talk), [es], kill_owner))
    after = [t for u, _, r, t in es.finals if not r and t > killed["at"]]
    check(len(after) > 0, "finals kept coming after the owner was killed")
    print("takeover: kill -9 to the next final at the listener: %.2f s (lease ttl %.1f s)"
          % (after[0] - killed["at"], LEASE_TTL_MS / 1000))
    check_told_once(es, ref_utterances, "worker killed")
    check_once_each(transcript(gw_b, session), ref_utterances, CLIP_WORDS, "worker killed")
    return killed["worker"]


def test_gateway_killed(cluster, gw_a, gw_b, talk, ref_utterances):
    session = gw_a.create_session(["es"])
    es = Listener(gw_b.listen_url(session, "es"))

    async def kill_a(first):
        gw_a.kill()

    speaker = asyncio.run(talk_with_listeners([gw_a, gw_b], session, read_talk(talk), [es], kill_a))
    check(len(speaker.resumes) >= 2, "the speaker reconnected (%d connections)" % len(speaker.resumes))
    check(es.close_code == 1000 and es.ended, "the listener on B was not disturbed")
    check_told_once(es, ref_utterances, "gateway killed")
    check_once_each(transcript(gw_b, session), ref_utterances, CLIP_WORDS, "gateway killed")


def test_worker_stalled(cluster, gw_a, gw_b, workers, talk, ref_utterances):
    session = gw_a.create_session(["es"])
    es = Listener(gw_b.listen_url(session, "es"))
    stalled = {}

    async def stall_owner(first):
        owner = owner_of(workers)
        other = next(w for w in workers if w is not owner)
        stalled["worker"] = owner
        owner.proc.send_signal(signal.SIGSTOP)
        await wait_until(lambda: worker_sessions(other), FINALS_TIMEOUT_S,
                         "the other worker to take the session over")
        await asyncio.sleep(1)
        owner.proc.send_signal(signal.SIGCONT)

    asyncio.run(talk_with_listeners([gw_a], session, read_talk(talk), [es], stall_owner))
    check_told_once(es, ref_utterances, "worker stalled")
    check_once_each(transcript(gw_b, session), ref_utterances, CLIP_WORDS, "worker stalled")
    # Which path notices the lost lease first (a renewal, a checkpoint)
    # depends on the machine's load; what matters is that it lets go.
    deadline = time.time() + FINALS_TIMEOUT_S
    while worker_sessions(stalled["worker"]) and time.time() < deadline:
        time.sleep(0.2)
    check(worker_sessions(stalled["worker"]) == 0,
          "the stalled worker found its lease gone and dropped the session (log says lease "
          "lost: %s)" % ("lease lost" in node_log(stalled["worker"])))


def test_redis_restarted(cluster, gw_a, gw_b, talk, ref_utterances):
    session = gw_a.create_session(["es"])
    es = Listener(gw_b.listen_url(session, "es"))

    async def restart_redis(first):
        cluster.redis.kill()
        await asyncio.sleep(REDIS_DOWN_S)
        cluster.redis.start()

    speaker = asyncio.run(talk_with_listeners([gw_a], session, read_talk(talk), [es], restart_redis))
    # The gateway closes with 1013; a client still sending may see only the
    # reset that follows (1006), so the gateway's own log is the witness.
    codes = [c for c, _ in speaker.closes]
    check(1013 in codes or "speaker closed with 1013" in node_log(gw_a),
          "audio offered while Redis was down was refused with 1013 (client saw %s)" % speaker.closes)
    check_once_each(transcript(gw_b, session), ref_utterances, CLIP_WORDS, "redis restarted")
    check(es.ended, "the listener heard the session end after Redis came back")


def main():
    binary = sys.argv[1]
    with Cluster(binary) as cluster:
        talk = make_talk(os.path.join(cluster.redis.tmp, "talk.wav"), LIBRIVOX)
        reference = reference_run(binary, talk)
        ref_utterances = [c["utterance"] for c in reference[2]]
        workers = [cluster.node("worker"), cluster.node("worker")]
        gw_a, gw_b = cluster.node("gateway"), cluster.node("gateway")
        cluster.wait_for_catalog(gw_a)
        cluster.wait_for_catalog(gw_b)
        test_flow(cluster, gw_a, gw_b, talk, reference)
        killed = test_worker_killed(cluster, gw_a, gw_b, workers, talk, ref_utterances)
        killed.start()
        test_gateway_killed(cluster, gw_a, gw_b, talk, ref_utterances)
        gw_a.start()
        cluster.wait_for_catalog(gw_a)
        test_worker_stalled(cluster, gw_a, gw_b, workers, talk, ref_utterances)
        test_redis_restarted(cluster, gw_a, gw_b, talk, ref_utterances)
    print("cluster: all passed")


if __name__ == "__main__":
    main()
