"""Graceful overload: a worker takes sessions only while it has room, and
the gateway refuses the rest clearly.

1. All-in-one, --max-sessions 1: while one session runs (its captions
   arrive), POST /api/sessions answers 503 server_full with a JSON error
   and Retry-After, counted in /metrics; the running session reports its
   shedding level; once it ends there is room again.
2. All-in-one, capacity from measured load (--capacity-load-pct 1 with one
   worker thread: no real session fits, whatever max-sessions says): the
   first session is admitted while nothing is measured; once its load is
   measured, a new session is refused, and the speaker of a session created
   before (which no worker has taken) is closed with 4503 "server full".
3. Shedding: with a latency budget of 1 ms every record is late, so the
   session sheds all partials (and stays so: it never waits under a
   quarter of the budget); GET /api/sessions/{id} and /metrics say so, and
   its finals still arrive.
4. Redis, one gateway and one worker (--max-sessions 1): while the worker
   is full the gateway refuses new sessions the same way.
5. A burst: four sessions are created on an idle server with room for two
   (two worker threads, and a target load no session fits in: one session
   per thread) and their four speakers connect at once, before any
   worker has taken a session: two are admitted (each holds a slot of the
   room until its audio reaches a worker), the others are closed with 4503 "server full".
No assertion depends on timing: every wait is for a state, with a generous
limit."""
import asyncio
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.request

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, Listener, Speaker, end_session, read_talk, wait_until  # noqa: E402
from harness import LIBRIVOX, Server, check, fail, make_talk  # noqa: E402

PACE = 2.0               # the talk goes out at twice real time
FAST_PACE = 50.0         # faster than any worker recognizes: records queue up
STATE_TIMEOUT_S = 120
ENDED_TIMEOUT_S = 180
SHEDDING_LEVELS = ("none", "translated_partials", "partials")


def post_session(node):
    """(status, headers, JSON body) of POST /api/sessions."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request("POST", "/api/sessions", body=json.dumps({"source": "en", "targets": ["es"]}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    try:
        body = json.loads(payload)
    except ValueError:
        body = {"raw": payload.decode(errors="replace")}
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def capacity_of(node):
    """The worker_capacity object of a node's /healthz (None when absent)."""
    try:
        with urllib.request.urlopen(node.url + "/healthz", timeout=10) as r:
            return json.loads(r.read()).get("worker_capacity")
    except OSError:
        return None


def room_is(node, pred):
    cap = capacity_of(node)
    return cap is not None and pred(cap)


def check_refused(node, what):
    status, headers, body = post_session(node)
    check(status == 503, "%s: a new session is refused with 503 (got %d %r)" % (what, status, body))
    check(body.get("code") == "server_full" and isinstance(body.get("error"), str)
          and body["error"], "%s: the JSON error says server_full (%r)" % (what, body))
    retry = headers.get("retry-after", "")
    check(retry.isdigit() and int(retry) > 0, "%s: Retry-After in seconds (%r)" % (what, retry))


async def run_session(node, session, audio, during):
    """A Spanish listener and the speaker; during() runs while the speaker
    talks; then the session ends. Returns the listener."""
    listener = Listener(node.listen_url(session))
    task = asyncio.create_task(listener.run())
    await listener.connected.wait()
    speaker = Speaker([node], session, audio, PACE)
    speak = asyncio.create_task(speaker.run())
    await during()
    await speak
    check(not speaker.closes, "the admitted speaker streamed on one connection (%s)"
          % speaker.closes)
    end_session(node, session)
    await wait_until(lambda: listener.ended, ENDED_TIMEOUT_S, "the listener to be told the end")
    await task
    return listener


def test_max_sessions(binary, audio):
    with Server(binary, extra=["--max-sessions", "1"]).start() as server:
        session = server.create_session(["es"])

        async def during():
            await wait_until(lambda: room_is(server, lambda c: c["room"] == 0), STATE_TIMEOUT_S,
                             "the worker to have no room")
            check_refused(server, "--max-sessions 1")
            status, body = server.request("GET", "/api/sessions/" + session["id"])
            check(status == 200 and body.get("shedding") in SHEDDING_LEVELS,
                  "the running session reports its shedding level (%r)" % body.get("shedding"))

        listener = asyncio.run(run_session(server, session, audio, during))
        check(len(listener.fresh()) > 0, "the admitted session's captions arrived (%d finals)"
              % len(listener.fresh()))
        check((server.metric('babelcast_sessions_refused_total{code="server_full"}') or 0) >= 1, "/metrics counts the refusal as server_full")
        status, body = server.request("GET", "/api/sessions/" + session["id"])
        check(body.get("shedding") == "none", "an ended session sheds nothing (%r)" % body)
        deadline = time.time() + STATE_TIMEOUT_S
        while not room_is(server, lambda c: c["room"] >= 1):
            if time.time() > deadline:
                fail("the worker has no room after the session ended")
            time.sleep(0.2)
        status, _, body = post_session(server)
        check(status == 201, "after the session ended a new one is admitted (%d %r)" % (status, body))


async def refused_speaker(node, session):
    """The close code and reason a speaker of an untaken session gets."""
    url = "%s/ws/speak/%s?token=%s" % (node.ws_url, session["id"], session["speaker_token"])
    try:
        async with websockets.connect(url) as ws:
            await asyncio.wait_for(ws.recv(), 30)
            await asyncio.wait_for(ws.recv(), 30)
            return ws.close_code, ws.close_reason
    except websockets.ConnectionClosed as e:
        return e.code, e.reason


def test_measured_load(binary, audio):
    with Server(binary, extra=["--capacity-load-pct", "1", "--workers", "1"]).start() as server:
        cap = capacity_of(server)
        check(cap is not None and cap["room"] >= 1, "nothing measured yet: there is room (%r)" % cap)
        session = server.create_session(["es"])
        waiting = server.create_session(["es"])  # admitted too, no audio yet

        async def during():
            await wait_until(lambda: room_is(server, lambda c: c["busy_per_audio_s"] > 0
                                             and c["room"] == 0),
                             STATE_TIMEOUT_S, "the measured load to leave no room")
            cap = capacity_of(server)
            check(cap["estimate"] <= 1 and cap["busy_per_audio_s"] > 0,
                  "the estimate comes from the measured load, not --max-sessions (%r)" % cap)
            check_refused(server, "measured load")
            code, reason = await refused_speaker(server, waiting)
            check(code == 4503 and "server full" in reason,
                  "the speaker of a session no worker can take is closed with 4503 (%r %r)"
                  % (code, reason))

        listener = asyncio.run(run_session(server, session, audio, during))
        check(len(listener.fresh()) > 0, "the admitted session's captions arrived (%d finals)"
              % len(listener.fresh()))


def test_shedding(binary, audio):
    with Server(binary, extra=["--latency-budget-ms", "1"]).start() as server:
        session = server.create_session(["es"])
        seen = {}

        def shedding():
            status, body = server.request("GET", "/api/sessions/" + session["id"])
            seen["body"] = body
            return status == 200 and body.get("shedding") == "partials"

        async def run():
            listener = Listener(server.listen_url(session))
            task = asyncio.create_task(listener.run())
            await listener.connected.wait()
            speaker = Speaker([server], session, audio, FAST_PACE)
            await speaker.run()
            await wait_until(shedding, STATE_TIMEOUT_S, "the session to shed partials")
            check(True, "a session whose records are late sheds partials: %r" % seen["body"])
            check(server.metric('babelcast_sessions_shedding{level="partials"}') == 1,
                  "/metrics counts it among the sessions shedding partials")
            end_session(server, session)
            await wait_until(lambda: listener.ended, ENDED_TIMEOUT_S, "the end")
            await task
            return listener

        listener = asyncio.run(run())
        check(len(listener.fresh()) > 0, "finals still arrive while shedding (%d)"
              % len(listener.fresh()))


def test_cluster(binary, audio):
    with Cluster(binary) as cluster:
        gateway = cluster.node("gateway")
        worker = Server(binary, extra=["--role", "worker", "--redis", cluster.redis.url,
                                       "--max-sessions", "1"]).start()
        cluster.nodes.append(worker)
        cluster.wait_for_catalog(gateway)
        session = gateway.create_session(["es"])

        async def during():
            await wait_until(lambda: room_is(worker, lambda c: c["room"] == 0), STATE_TIMEOUT_S,
                             "the only worker to be full")
            deadline = time.time() + STATE_TIMEOUT_S
            while True:  # the announcement travels through Redis
                status, headers, body = post_session(gateway)
                if status == 503 or time.time() > deadline:
                    break
                await asyncio.sleep(0.2)
            check(status == 503 and body.get("code") == "server_full"
                  and headers.get("retry-after", "").isdigit(),
                  "the gateway refuses while its only worker is full (%d %r)" % (status, body))
            status, body = gateway.request("GET", "/api/sessions/" + session["id"])
            check(body.get("shedding") in SHEDDING_LEVELS,
                  "any gateway reports the session's shedding level (%r)" % body.get("shedding"))

        listener = asyncio.run(run_session(gateway, session, audio, during))
        check(len(listener.fresh()) > 0, "the admitted session's captions arrived through the "
              "gateway (%d finals)" % len(listener.fresh()))


BURST_SPEAKERS = 4
BURST_ROOM = 2
SILENCE_FRAME = b"\0" * 3200


async def burst_speaker(node, session, answered, release):
    """Connects as the speaker: ("ready", None), or ("closed", (code,
    reason)). Once every speaker has its answer (release), an admitted one
    sends a frame of silence, so a worker takes its session."""
    url = "%s/ws/speak/%s?token=%s" % (node.ws_url, session["id"], session["speaker_token"])
    try:
        async with websockets.connect(url) as ws:
            message = json.loads(await asyncio.wait_for(ws.recv(), STATE_TIMEOUT_S))
            if message.get("type") != "ready":
                fail("a speaker's first message is ready (%r)" % message)
            answered.release()
            await release.wait()
            await ws.send(SILENCE_FRAME)
            return "ready", None
    except websockets.ConnectionClosed as e:
        answered.release()
        return "closed", (e.code, e.reason)


def test_burst(binary):
    extra = ["--workers", str(BURST_ROOM), "--capacity-load-pct", "1"]
    with Server(binary, extra=extra).start() as server:
        sessions = [server.create_session(["es"]) for _ in range(BURST_SPEAKERS)]

        async def run():
            answered = asyncio.Semaphore(0)
            release = asyncio.Event()
            tasks = [asyncio.create_task(burst_speaker(server, s, answered, release))
                     for s in sessions]
            for _ in tasks:
                await asyncio.wait_for(answered.acquire(), STATE_TIMEOUT_S)
            release.set()
            return await asyncio.gather(*tasks)

        outcomes = asyncio.run(run())
        admitted = [o for o in outcomes if o[0] == "ready"]
        refused = [o[1] for o in outcomes if o[0] == "closed"]
        check(len(admitted) == BURST_ROOM,
              "a burst of %d speakers on room for %d: %d admitted"
              % (BURST_SPEAKERS, BURST_ROOM, len(admitted)))
        check(all(code == 4503 and "server full" in reason for code, reason in refused),
              "the others are closed with 4503 server full (%r)" % refused)
        for s in sessions:
            end_session(server, s)


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        audio = read_talk(make_talk(os.path.join(tmp, "talk.wav"), LIBRIVOX[1:3]))
        test_max_sessions(binary, audio)
        test_measured_load(binary, audio)
        test_shedding(binary, audio)
        test_cluster(binary, audio)
        test_burst(binary)
    print("capacity: all passed")


if __name__ == "__main__":
    main()
