"""GET /metrics in the Prometheus text format, checked by promtool, on every
role's port, with counts that follow a real session exactly:

1. All-in-one server (at most one live session): before any session the
   counters are at zero; a second session is refused (429) and counted;
   while two listeners (Opus and PCM16) and the speaker are connected the
   gauges say so; after real speech every frame, byte and record is
   counted once, recognition covered all the audio, and translation,
   synthesis and end-of-speech-to-audio were measured.
2. Redis, one gateway and one worker as separate processes: the gateway
   counts the frames and runs no engine; the worker's health port serves
   its own metrics (recognition, end of speech to audio) and no gateway's."""
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, Listener, Speaker, end_session, read_talk, wait_until  # noqa: E402
from harness import LIBRIVOX, Server, check, fail, make_talk  # noqa: E402

FRAME_BYTES = 3200       # cluster.Speaker's frames: 100 ms of PCM16 at 16 kHz
BYTES_PER_S = 32000
COALESCE_BYTES = 32 * 1024  # the gateway appends waiting frames together up to this
PACE = 10.0              # the talk is sent at ten times real time
ENDED_TIMEOUT_S = 180
LISTEN_SETTLE_S = 1.5
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(node):
    with urllib.request.urlopen(node.url + "/metrics", timeout=30) as r:
        check(r.status == 200, "GET /metrics answers 200")
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("text/plain; version=0.0.4"), "exposition format 0.0.4 (%s)" % ctype)
        return r.read().decode()


def promtool_check(text, what):
    promtool = shutil.which("promtool")
    if not promtool:
        fail("promtool is not installed (scripts/install-deps.sh installs Debian's prometheus)")
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    if res.returncode != 0:
        print(text)
    check(res.returncode == 0, "promtool check metrics passes for %s: %s%s"
          % (what, res.stdout.strip(), res.stderr.strip()))


def parse(text):
    """{(name, ((label, value), ...)): value} of every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("not a sample line: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    """A sample's value, or None when it is not there."""
    return samples.get((name, tuple(sorted(labels.items()))))


def names(samples):
    return {name for name, _ in samples}


def frames_of(audio):
    return (len(audio) + FRAME_BYTES - 1) // FRAME_BYTES


async def talk(speak_node, session, audio, listeners, during=None):
    """Listeners first, then the speaker at PACE; calls during() while all are
    connected; ends the session and waits until every listener is told."""
    tasks = [asyncio.create_task(l.run()) for l in listeners]
    for l in listeners:
        await l.connected.wait()
    await asyncio.sleep(LISTEN_SETTLE_S)
    speaker = Speaker([speak_node], session, audio, PACE)
    speak = asyncio.create_task(speaker.run())
    if during:
        await during(speaker)
    await speak
    check(not speaker.closes, "the speaker streamed on one connection (%s)" % speaker.closes)
    end_session(speak_node, session)
    await wait_until(lambda: all(l.ended for l in listeners), ENDED_TIMEOUT_S,
                     "the listeners to be told the session ended")
    for t in tasks:
        await t


def test_all_in_one(binary, tmp):
    with Server(binary, extra=["--max-sessions", "1"]).start() as server:
        before = scrape(server)
        promtool_check(before, "a fresh server")
        s = parse(before)
        check(value(s, "babelcast_build_info", version="0.1.0", role="all") == 1,
              "build info names the version and role")
        for name in ("babelcast_speaker_frames_total", "babelcast_speaker_bytes_total",
                     "babelcast_stream_append_errors_total", "babelcast_dead_letters_total",
                     "babelcast_asr_audio_seconds_total"):
            check(value(s, name) == 0, "%s starts at 0" % name)
        check(value(s, "babelcast_lag_drops_total", peer="listener") == 0, "no listener dropped")
        check(value(s, "process_cpu_seconds_total") > 0, "process CPU seconds from /proc")
        check(value(s, "process_resident_memory_bytes") > 10e6, "process RSS from /proc")

        session = server.create_session(["es"])
        status, body = server.request("POST", "/api/sessions", {"source": "en", "targets": ["es"]})
        check(status == 429, "a second session is refused (%s)" % (body,))
        audio = read_talk(make_talk(os.path.join(tmp, "talk.wav"), LIBRIVOX[1:3]))
        listen = "%s/ws/listen/%s?lang=es&codec=" % (server.ws_url, session["id"])
        listeners = [Listener(listen + "opus"), Listener(listen + "pcm16")]

        async def while_talking(speaker):
            await wait_until(lambda: speaker.sent > 0, 60, "the speaker's first frame")
            s = parse(scrape(server))
            check(value(s, "babelcast_sessions_live") == 1, "one live session")
            check(value(s, "babelcast_speakers") == 1, "one speaker connected")
            check(value(s, "babelcast_listeners", lang="es", codec="opus") == 1,
                  "one Spanish Opus listener")
            check(value(s, "babelcast_listeners", lang="es", codec="pcm16") == 1,
                  "one Spanish PCM16 listener")
            check(value(s, "babelcast_sessions_refused_total", code="too_many_sessions") == 1,
                  "the refused session is counted")

        asyncio.run(talk(server, session, audio, listeners, while_talking))
        check(all(l.audio for l in listeners), "both listeners heard translated speech")

        deadline = time.time() + 30
        while True:
            after = scrape(server)
            s = parse(after)
            if value(s, "babelcast_worker_sessions") == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        promtool_check(after, "a server after a session")
        n_frames = frames_of(audio)
        check(value(s, "babelcast_speaker_frames_total") == n_frames,
              "every frame counted once (%s of %d)" % (value(s, "babelcast_speaker_frames_total"), n_frames))
        check(value(s, "babelcast_speaker_bytes_total") == len(audio), "every byte counted once")
        # Frames already waiting together are appended as one record.
        appends = value(s, "babelcast_stream_append_duration_seconds_count")
        audio_records = appends - 2
        check(-(-len(audio) // COALESCE_BYTES) <= audio_records <= n_frames,
              "frames (%d, some appended together), the end and the session end appended (%s)"
              % (n_frames, appends))
        check(value(s, "babelcast_stream_append_errors_total") == 0, "no append failed")
        check(value(s, "babelcast_asr_real_time_factor_count") == audio_records,
              "a real-time factor for every audio record")
        asr_s = value(s, "babelcast_asr_audio_seconds_total")
        check(abs(asr_s - len(audio) / BYTES_PER_S) < 0.01,
              "recognition covered all %.2f s of audio (%s)" % (len(audio) / BYTES_PER_S, asr_s))
        check(value(s, "babelcast_asr_cpu_seconds_total") > 0, "recognition CPU time measured")
        first = value(s, "babelcast_end_of_speech_to_audio_seconds_count", lang="es")
        check(first is not None and first >= 2, "end of speech to audio measured per utterance (%s)" % first)
        check(value(s, "babelcast_end_of_speech_to_audio_seconds_sum", lang="es") > 0,
              "end of speech to audio takes time")
        check(value(s, "babelcast_mt_duration_seconds_count", lang="es") >= first,
              "every Spanish final translated and timed")
        check(value(s, "babelcast_tts_duration_seconds_count", lang="es") >= first,
              "every Spanish final synthesized and timed")
        check(value(s, "babelcast_sessions_live") == 0, "no live session after the end")
        check(value(s, "babelcast_worker_sessions") == 0, "the worker let the session go")
        check(not any(n == "babelcast_listeners" for n, _ in s), "no listener left in the gauge")


def test_cluster(binary, tmp):
    with Cluster(binary) as cluster:
        gateway = cluster.node("gateway")
        worker = cluster.node("worker")
        cluster.wait_for_catalog(gateway)
        status, _ = worker.request("GET", "/api/languages")
        check(status == 404, "the worker's port still serves no API")
        session = gateway.create_session(["es"])
        audio = read_talk(LIBRIVOX[1])
        listener = Listener(gateway.listen_url(session))
        asyncio.run(talk(gateway, session, audio, [listener]))
        check(listener.audio, "the listener heard translated speech")

        text = scrape(gateway)
        promtool_check(text, "a gateway")
        g = parse(text)
        check(value(g, "babelcast_build_info", version="0.1.0", role="gateway") == 1, "gateway role")
        check(value(g, "babelcast_speaker_frames_total") == frames_of(audio),
              "the gateway counted every frame")
        check(not any(n.startswith("babelcast_asr_") for n in names(g)),
              "the gateway has no recognition metrics")

        text = scrape(worker)
        promtool_check(text, "a worker's health port")
        w = parse(text)
        check(value(w, "babelcast_build_info", version="0.1.0", role="worker") == 1, "worker role")
        check(abs(value(w, "babelcast_asr_audio_seconds_total") - len(audio) / BYTES_PER_S) < 0.01,
              "the worker recognized all the audio")
        check(value(w, "babelcast_end_of_speech_to_audio_seconds_count", lang="es") >= 1,
              "the worker measured end of speech to audio")
        check("babelcast_speaker_frames_total" not in names(w), "the worker has no gateway metrics")
        check(value(w, "process_resident_memory_bytes") > value(g, "process_resident_memory_bytes"),
              "the worker, with its models, uses more memory than the gateway")


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="babelcast-metrics-")
    try:
        test_all_in_one(binary, tmp)
        test_cluster(binary, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("metrics: all passed")


if __name__ == "__main__":
    main()
