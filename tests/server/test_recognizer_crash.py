"""Forked recognizers: the server runs a template process and one
recognizer process per live session. kill -9 of the recognizer mid-session
costs at most the utterance in progress: the server logs it, the session
continues in a fresh recognizer and later speech is transcribed; the
server stops cleanly and leaves no recognizer process behind."""
import asyncio
import json
import os
import signal
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server, send_talk  # noqa: E402

FRAME_BYTES = 3200
# Words the recognizer gets right in the last two clips of the talk.
LATE_WORDS = ["amiable woman", "amiable himself"]
TIMEOUT_S = 120


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def transcript_has(server, session, words):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    text = ""
    while loop.time() < deadline:
        status, text = await asyncio.to_thread(
            server.request, "GET", "/api/sessions/%s/transcript?format=txt" % session["id"])
        if status == 200 and all(w in text for w in words):
            return text
        await asyncio.sleep(0.3)
    return text


async def scenario(server, session, talk):
    templates = children_of(server.proc.pid)
    check(len(templates) == 1, "the server runs one recognizer template process: %s" % templates)
    template = templates[0]
    async with websockets.connect(server.speaker_url(session)) as ws:
        await send_talk(ws, talk, FRAME_BYTES)
        await ws.send(json.dumps({"type": "end"}))
        # Kill once recognition has begun (the first clip is transcribed).
        text = await transcript_has(server, session, ["dashwood"])
        check("dashwood" in text, "the first clip was transcribed")
        recognizers = children_of(template)
        check(len(recognizers) >= 1, "a recognizer process serves the session: %s" % recognizers)
        for pid in recognizers:
            os.kill(pid, signal.SIGKILL)
        text = await transcript_has(server, session, LATE_WORDS)
    return template, recognizers, text


def test(server):
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX)
    session = server.create_session(["es"])
    template, killed, text = asyncio.run(scenario(server, session, talk))
    print("transcript:\n" + text)
    check(server.proc.poll() is None, "the server survived the recognizer's death")
    for words in LATE_WORDS:
        check(words in text, "speech after the kill transcribed: '%s'" % words)
    server.log.flush()
    with open(os.path.join(server.tmp, "server.log"), errors="replace") as f:
        log = f.read()
    check("speech recognizer process %d ended unexpectedly" % killed[0] in log
          or "speech recognizer process %d is gone" % killed[0] in log,
          "the log names the recognizer that died")
    check("speech recognition continues in process" in log, "the log says where it continues")
    survivors = children_of(template)
    server.stop()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in survivors + [template]):
        time.sleep(0.1)
    check(not any(alive(p) for p in survivors + [template]),
          "no recognizer process outlives the server")


if __name__ == "__main__":
    run_with_server("recognizer_crash", test)
