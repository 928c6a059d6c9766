#!/usr/bin/env python3
"""Takeover after a worker dies: a real redis-server, one gateway and two
workers; in each round a speaker streams the talk in real time, the worker
that owns the session is killed (kill -9) after the second final, and the
time from the kill to the new owner's first caption (an English listener
gets every source partial) and to the next final are printed. The next final
waits for the speaker to finish the utterance in progress, so it measures
the talk as much as the takeover.

    python3 bench/bench_takeover.py build/babelcast [--rounds N] [--lease-ttl-ms MS]
"""
import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "server"))
import cluster as C  # noqa: E402
from harness import LIBRIVOX, make_talk  # noqa: E402

KILL_AFTER_FINALS = 2
LISTEN_SETTLE_S = 1.5


async def one_round(gateway, workers, talk):
    session = gateway.create_session(["es"])
    listener = C.Listener("%s/ws/listen/%s?lang=es" % (gateway.ws_url, session["id"]))
    source = C.Listener("%s/ws/listen/%s?lang=en" % (gateway.ws_url, session["id"]))
    task = asyncio.gather(listener.run(), source.run())
    await listener.connected.wait()
    await source.connected.wait()
    await asyncio.sleep(LISTEN_SETTLE_S)
    speak = asyncio.create_task(C.Speaker([gateway], session, talk, 1.0).run())
    await C.wait_until(lambda: len(listener.fresh()) >= KILL_AFTER_FINALS, C.FINALS_TIMEOUT_S,
                       "the first finals")
    owner = C.owner_of(workers)
    owner.kill()
    killed_at = time.time()
    await speak
    await asyncio.to_thread(C.end_session, gateway, session)
    await asyncio.wait_for(task, C.FINALS_TIMEOUT_S)
    owner.start()
    first_caption = min(t for t in source.caption_times if t > killed_at)
    next_final = min(t for _, _, replay, t in listener.finals if not replay and t > killed_at)
    return first_caption - killed_at, next_final - killed_at


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lease-ttl-ms", type=int, default=C.LEASE_TTL_MS)
    args = parser.parse_args()
    C.LEASE_TTL_MS = args.lease_ttl_ms
    cluster = C.Cluster(args.binary)
    try:
        talk = C.read_talk(make_talk(os.path.join(cluster.redis.tmp, "talk.wav"), LIBRIVOX))
        workers = [cluster.node("worker"), cluster.node("worker")]
        gateway = cluster.node("gateway")
        cluster.wait_for_catalog(gateway)
        firsts, finals = [], []
        for i in range(args.rounds):
            first, final = asyncio.run(one_round(gateway, workers, talk))
            print("round %d: kill -9 -> first caption of the new owner %.2f s, -> next final %.2f s"
                  % (i + 1, first, final), flush=True)
            firsts.append(first)
            finals.append(final)
        print("lease ttl %d ms, %d rounds: first caption p50 %.2f s max %.2f s; "
              "next final p50 %.2f s max %.2f s"
              % (args.lease_ttl_ms, len(firsts), statistics.median(firsts), max(firsts),
                 statistics.median(finals), max(finals)))
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
