"""The S3 archive against s3rver: a session served with --archive s3://...
leaves its translated speech (one WAV per utterance, the very samples the
listeners heard) and, at its end, its transcripts (vtt, srt, txt, json per
language, holding the finals) in the bucket under PREFIX/SESSION/. An S3
outage mid-session (s3rver killed with -9, restarted on the same port and
directory) delays the uploads and loses none; a server stopped with a
non-empty spool uploads it after its restart; every object arrives once."""
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, Server, check, fail, make_talk, run  # noqa: E402
from s3rver import ACCESS_KEY, SECRET_KEY, S3rver  # noqa: E402

BUCKET = "babelcast-archive"
PREFIX = "talks/2026"
WAIT_S = 180
POLL_S = 0.2
FORMATS = ("vtt", "srt", "txt", "json")
WAV_HEADER_BYTES = 44


def archive_args(s3):
    return ["--archive", "s3://%s/%s/?region=us-east-1&endpoint=%s" % (BUCKET, PREFIX, s3.endpoint)]


class Heard:
    """What the Spanish listener got: finals, and the PCM of each utterance."""

    def __init__(self):
        self.finals = []
        self.speech = {}
        self.current = None
        self.joined = asyncio.Event()
        self.first_audio_end = asyncio.Event()


async def listen(server, session, heard):
    url = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])
    async with websockets.connect(url, max_size=None) as ws:
        while True:
            msg = await asyncio.wait_for(ws.recv(), WAIT_S)
            if isinstance(msg, bytes):
                heard.speech[heard.current] += msg
                continue
            m = json.loads(msg)
            if m["type"] == "hello":
                heard.joined.set()
            elif m["type"] == "caption" and m.get("final") and m.get("lang") == "es":
                heard.finals.append(m["text"])
            elif m["type"] == "audio_start":
                heard.current = m["utterance"]
                heard.speech[heard.current] = b""
            elif m["type"] == "audio_end":
                heard.first_audio_end.set()
            elif m["type"] == "ended":
                return


async def run_session(server, clips, during=None):
    """Speaks clips into a new Spanish session, ends it, and waits until the
    listener saw it end. during() runs after the first translated utterance."""
    session = server.create_session(["es"])
    heard = Heard()
    talk = make_talk(os.path.join(server.tmp, "talk-%s.wav" % session["id"]), clips)
    listener = asyncio.ensure_future(listen(server, session, heard))
    await asyncio.wait_for(heard.joined.wait(), WAIT_S)  # in before the first words
    # babelcast speak returns once its words are recognized and stored.
    speak = asyncio.ensure_future(asyncio.to_thread(
        run, server.binary, "speak", server.url, talk, "--session", session["id"],
        "--token", session["speaker_token"], timeout=WAIT_S))
    if during:
        await asyncio.wait_for(heard.first_audio_end.wait(), WAIT_S)
        during()
    result = await speak
    if result.returncode != 0:
        fail("speak failed: %s" % result.stderr)
    status, _ = server.request("DELETE", "/api/sessions/" + session["id"], None,
                               {"Authorization": "Bearer " + session["speaker_token"]})
    if status != 204:
        fail("ending the session answered %d" % status)
    await asyncio.wait_for(listener, WAIT_S)
    return session, heard


def expected_keys(session, heard):
    base = "%s/%s/" % (PREFIX, session["id"])
    keys = [base + "es/%06d.wav" % u for u in heard.speech]
    keys += [base + "transcript.%s.%s" % (lang, fmt) for lang in ("en", "es") for fmt in FORMATS]
    return sorted(keys)


def spooled(server):
    ready = os.path.join(server.data_dir, "spool", "s3", "ready")
    return sorted(os.listdir(ready)) if os.path.isdir(ready) else []


def wait_for(what, predicate, state=lambda: ""):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(POLL_S)
    fail("timed out waiting for %s %s" % (what, state()))


def wait_uploaded(server, s3, session, heard):
    keys = expected_keys(session, heard)
    prefix = "%s/%s/" % (PREFIX, session["id"])
    wait_for("every object in the bucket",
             lambda: s3.keys(prefix) == keys and not spooled(server),
             lambda: "(want %s, have %s, spooled %s)" % (keys, s3.keys(prefix), spooled(server)))
    check(True, "%d objects in the bucket under %s, the spool empty" % (len(keys), prefix))
    return keys


def check_contents(s3, session, heard):
    base = "%s/%s/" % (PREFIX, session["id"])
    check(len(heard.speech) >= 1 and all(heard.speech.values()),
          "the listener heard %d utterances" % len(heard.speech))
    for utterance, pcm in heard.speech.items():
        body, ctype = s3.get(base + "es/%06d.wav" % utterance)
        if not (body[:4] == b"RIFF" and body[8:12] == b"WAVE" and ctype == "audio/wav"):
            fail("utterance %d is not a WAV (%r, %s)" % (utterance, body[:12], ctype))
        if body[WAV_HEADER_BYTES:] != pcm:
            fail("utterance %d: the archived samples (%d bytes) differ from the %d heard"
                 % (utterance, len(body) - WAV_HEADER_BYTES, len(pcm)))
    check(True, "each WAV holds exactly the samples the listener heard")
    text, ctype = s3.get(base + "transcript.es.txt")
    lines = text.decode().splitlines()
    check(lines == heard.finals and ctype.startswith("text/plain"),
          "transcript.es.txt holds the %d finals in order" % len(heard.finals))
    vtt, _ = s3.get(base + "transcript.es.vtt")
    check(vtt.startswith(b"WEBVTT") and heard.finals[0].encode() in vtt,
          "transcript.es.vtt is WebVTT with the finals")
    doc = json.loads(s3.get(base + "transcript.es.json")[0])
    check([c["text"] for c in doc["cues"]] == heard.finals, "transcript.es.json has the cues")
    english, _ = s3.get(base + "transcript.en.txt")
    check(english.strip(), "transcript.en.txt has the recognized English")


def flow(binary):
    with S3rver(BUCKET).start() as s3, Server(binary, extra=archive_args(s3)).start() as server:
        session, heard = asyncio.run(run_session(server, LIBRIVOX[:1]))
        keys = wait_uploaded(server, s3, session, heard)
        check_contents(s3, session, heard)
        check(all(s3.stores(k) == 1 for k in keys), "each object was stored once")


def outage(binary):
    with S3rver(BUCKET).start() as s3, Server(binary, extra=archive_args(s3)).start() as server:
        session, heard = asyncio.run(run_session(server, LIBRIVOX[1:3], during=s3.kill))
        # Spooled under their keys below the prefix, '/' written '+'.
        transcripts = ["%s+transcript.%s.%s" % (session["id"], lang, fmt)
                       for lang in ("en", "es") for fmt in FORMATS]
        wait_for("the transcripts in the spool",
                 lambda: set(transcripts) <= set(spooled(server)))
        check(True, "with S3 down the session's transcripts wait in the spool")
        pending = server.metric("babelcast_archive_pending_objects ")
        check(pending is not None and pending >= len(transcripts),
              "the metrics count the pending objects (%s)" % pending)
        s3.start()
        keys = wait_uploaded(server, s3, session, heard)
        check_contents(s3, session, heard)
        check(all(s3.stores(k) >= 1 for k in keys) and
              all(s3.stores(PREFIX + "/" + session["id"] + "/" + t.split("+")[-1]) == 1
                  for t in transcripts),
              "after the outage every object arrived; those spooled during it once")


def restart(binary):
    # S3 not running yet: it is unreachable.
    with S3rver(BUCKET) as s3, Server(binary, extra=archive_args(s3)).start() as server:
        session, heard = asyncio.run(run_session(server, LIBRIVOX[3:4]))
        n = len(expected_keys(session, heard))
        wait_for("the whole session in the spool", lambda: len(spooled(server)) == n)
        server.stop()
        check(len(spooled(server)) == n, "a stopped server leaves its %d objects spooled" % n)
        s3.start()
        server.start()
        keys = wait_uploaded(server, s3, session, heard)
        check_contents(s3, session, heard)
        check(all(s3.stores(k) == 1 for k in keys), "the restarted server uploaded each once")


def main():
    os.environ["AWS_ACCESS_KEY_ID"] = ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
    os.environ.pop("AWS_SESSION_TOKEN", None)
    binary = sys.argv[1]
    flow(binary)
    outage(binary)
    restart(binary)
    print("s3_archive: all passed")


if __name__ == "__main__":
    main()
