"""Abuse limits: session creation per client address per minute (429 with
Retry-After), live sessions without a speaker end by themselves, and
sessions left live by an earlier run do not lock --max-sessions."""
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, check, fail, with_server  # noqa: E402
from rawhttp import exchange  # noqa: E402

RATE = 20
IDLE_S = 2
WAIT_S = 60
FREED_PLACE_TIMEOUT_S = 30
BODY = json.dumps({"source": "en", "targets": []}).encode()
SILENCE = b"\0" * 3200  # 100 ms of PCM16 at 16 kHz


def post(server, source="127.0.0.1"):
    return exchange(server.port, "POST", "/api/sessions", [("Content-Type", "application/json")],
                    BODY, source=source)


def live_sessions(server):
    return server.request("GET", "/healthz")[1]["sessions"]


def wait_state(server, sid, state):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        status, body = server.request("GET", "/api/sessions/" + sid)
        if status == 200 and body["state"] == state:
            return body
        time.sleep(0.2)
    fail("session %s did not become %s within %d s" % (sid, state, WAIT_S))


def rate_test(server):
    for i in range(RATE):
        status, _, body = post(server)
        if status != 201:
            fail("creation %d of %d was refused: %d %r" % (i + 1, RATE, status, body))
    check(True, "%d sessions created from one address within the minute" % RATE)
    status, headers, body = post(server)
    check(status == 429 and body.get("code") == "rate_limited" and body.get("error"),
          "creation %d -> 429 rate_limited (got %d %r)" % (RATE + 1, status, body))
    retry = headers.get("retry-after", "")
    check(retry.isdigit() and 1 <= int(retry) <= 60 // RATE,
          "429 carries Retry-After in seconds (%r)" % retry)
    check(live_sessions(server) == RATE, "the refused request created no session")
    status, _, body = post(server, source="127.0.0.2")
    check(status == 201, "another address still creates sessions (got %d %r)" % (status, body))
    time.sleep(int(retry))
    status, _, body = post(server)
    check(status == 201, "after Retry-After the first address creates again (got %d %r)"
          % (status, body))


async def idle_test(server):
    talking = server.create_session([])
    silent = server.create_session([])
    speak_url = server.speaker_url(talking)
    listen_url = "%s/ws/listen/%s?lang=en" % (server.ws_url, silent["id"])
    async with websockets.connect(speak_url) as speaker, websockets.connect(listen_url) as listener:
        await speaker.recv()  # ready
        stop = asyncio.Event()

        async def keep_talking():
            while not stop.is_set():
                await speaker.send(SILENCE)
                await asyncio.sleep(0.5)
        talker = asyncio.create_task(keep_talking())
        ended = False
        try:
            while True:
                msg = await asyncio.wait_for(listener.recv(), WAIT_S)
                if isinstance(msg, str) and json.loads(msg)["type"] == "ended":
                    ended = True
        except websockets.ConnectionClosed:
            pass
        check(ended and listener.close_code == 1000,
              "a listener of the session without a speaker got 'ended' and 1000 (close %s)"
              % listener.close_code)
        body = wait_state(server, silent["id"], "ended")
        check(body["ended_ms"] > 0, "the silent session is ended in the registry")
        # Three more idle periods with the speaker connected.
        await asyncio.sleep(3 * IDLE_S)
        status, body = server.request("GET", "/api/sessions/" + talking["id"])
        check(body["state"] == "live", "the session with a connected speaker stays live")
        stop.set()
        await talker
    body = wait_state(server, talking["id"], "ended")
    check(True, "once its speaker left, that session ended too")


def restart_test(binary):
    with Server(binary, extra=["--max-sessions", "1"]).start() as first:
        left = first.create_session([])
        status, _, body = post(first)
        check(status == 429 and body.get("code") == "too_many_sessions",
              "--max-sessions 1 is full (got %d %r)" % (status, body))
        first.stop()
        time.sleep(IDLE_S + 0.5)
        with Server(binary, data_dir=first.data_dir,
                    extra=["--max-sessions", "1", "--idle-session-s", str(IDLE_S)]).start() as second:
            body = wait_state(second, left["id"], "ended")
            check(True, "after the restart the session left live past the idle limit ended")
            # The worker may still be finishing the ended session, its one
            # place taken: 503 server_full until it lets go, then 201.
            deadline = time.monotonic() + FREED_PLACE_TIMEOUT_S
            status, _, body = post(second)
            while status == 503 and body.get("code") == "server_full" and time.monotonic() < deadline:
                time.sleep(0.2)
                status, _, body = post(second)
            check(status == 201, "and a new session can be created (got %d %r)" % (status, body))


def main():
    binary = sys.argv[1]
    for extra, test in [(["--session-rate", str(RATE)], rate_test),
                        (["--idle-session-s", str(IDLE_S)], lambda s: asyncio.run(idle_test(s)))]:
        with_server(binary, test, extra)
    restart_test(binary)
    print("limits: all passed")


if __name__ == "__main__":
    main()
