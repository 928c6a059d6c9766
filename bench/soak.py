#!/usr/bin/env python3
"""Soak: churns sessions, speakers and listeners against one server for a
while and prints the server's RSS, open file descriptors and threads at the
start, every minute, and at the end (the goal: flat).

    python3 bench/soak.py build/babelcast [--minutes 10] [--parallel 3]

Each round: create a session (es, ca), connect an es and a ca listener
(one of them in Opus), speak goforward.raw, end the session, wait for the
listeners to be told it ended. --parallel rounds run at once."""
import argparse
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "server"))
from harness import Server, speak_raw  # noqa: E402

ROUND_TIMEOUT_S = 120
SAMPLE_EVERY_S = 60


def sample(pid):
    status = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            name, _, value = line.partition(":")
            status[name] = value.strip()
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return int(status["VmRSS"].split()[0]) / 1024, fds, int(status["Threads"])


async def listen(url):
    async with websockets.connect(url, max_size=None) as ws:
        async for msg in ws:
            if isinstance(msg, str) and json.loads(msg)["type"] == "ended":
                return True
    return False


async def one_round(server):
    session = await asyncio.to_thread(server.create_session, ["es", "ca"])
    base = "%s/ws/listen/%s" % (server.ws_url, session["id"])
    listeners = [asyncio.create_task(listen(base + "?lang=es")),
                 asyncio.create_task(listen(base + "?lang=ca&codec=opus"))]
    await asyncio.sleep(0.5)
    await speak_raw(server, session)
    status, _ = await asyncio.to_thread(
        server.request, "DELETE", "/api/sessions/" + session["id"], None,
        {"Authorization": "Bearer " + session["speaker_token"]})
    if status != 204:
        raise RuntimeError("ending a session answered %d" % status)
    ended = await asyncio.wait_for(asyncio.gather(*listeners), ROUND_TIMEOUT_S)
    if not all(ended):
        raise RuntimeError("a listener was not told the session ended")


async def churn(server, minutes, parallel):
    deadline = time.time() + minutes * 60
    rounds = 0
    next_sample = time.time() + SAMPLE_EVERY_S

    async def worker():
        nonlocal rounds
        while time.time() < deadline:
            await one_round(server)
            rounds += 1

    tasks = [asyncio.create_task(worker()) for _ in range(parallel)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        if time.time() >= next_sample:
            rss, fds, threads = sample(server.proc.pid)
            print("%5.1f min: %d rounds, RSS %.1f MB, %d fds, %d threads"
                  % (minutes - (deadline - time.time()) / 60, rounds, rss, fds, threads), flush=True)
            next_sample += SAMPLE_EVERY_S
    for t in tasks:
        t.result()
    return rounds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--parallel", type=int, default=3)
    args = parser.parse_args()
    server = Server(args.binary, extra=["--session-rate", "0"]).start()
    try:
        asyncio.run(one_round(server))  # engines and pipelines warm
        start = sample(server.proc.pid)
        print("start: RSS %.1f MB, %d fds, %d threads" % start, flush=True)
        rounds = asyncio.run(churn(server, args.minutes, args.parallel))
        time.sleep(5)  # the last sessions' archives close
        end = sample(server.proc.pid)
        print("end after %d rounds: RSS %.1f MB, %d fds, %d threads" % ((rounds,) + end))
        print("change: RSS %+.1f MB, %+d fds, %+d threads"
              % (end[0] - start[0], end[1] - start[1], end[2] - start[2]))
        server.stop()  # fails on a nonzero exit, as a sanitizer's report makes it
        print("server stopped cleanly (exit status 0)")
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
