"""Full flow: a session, listeners in Spanish and Catalan (and a second
Spanish one receiving Opus), and a speaker streaming real speech in real
time, all through the babelcast binary's own clients; then the transcript
exports match what the listeners saw."""
import json
import os
import re
import subprocess
import sys
import wave

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run, run_with_server  # noqa: E402

NO_SHEDDING_BUDGET_MS = 3600 * 1000
LISTEN_TIMEOUT_S = 120
# Words the engines produce for these clips ("young man", "amiable"...).
EXPECTED = {"es": ["joven", "hombre"], "ca": ["jove", "home"]}
MIN_SPEECH_S_PER_UTTERANCE = 0.5
# Opus pads each utterance's last 60 ms frame and has a few ms of filter delay.
OPUS_EXTRA_S_PER_UTTERANCE = 0.07
# Opus at 24 kbit/s against PCM16 at 22050 Hz (353 kbit/s).
OPUS_MIN_SAVING = 8
LISTENERS = {"es": ("es", "pcm16"), "ca": ("ca", "pcm16"), "es-opus": ("es", "opus")}


def audio_summary(line):
    """(samples, bytes) from the listener's summary line."""
    m = re.search(r"(\d+) samples, (\d+) bytes of", line)
    check(m, "summary has audio counts: %s" % line)
    return int(m.group(1)), int(m.group(2))


def test(server):
    binary = server.binary
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX[1:3] + LIBRIVOX[4:5])
    session = server.create_session(["es", "ca"])
    sid = session["id"]
    listeners = {}
    for name, (lang, codec) in LISTENERS.items():
        out = os.path.join(server.tmp, name)
        listeners[name] = (subprocess.Popen(
            [binary, "listen", server.url, "--session", sid, "--lang", lang, "--codec", codec,
             "--out", out + ".wav", "--captions", out + ".json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out)
    speak = run(binary, "speak", server.url, talk, "--session", sid,
                "--token", session["speaker_token"], timeout=LISTEN_TIMEOUT_S)
    print(speak.stdout, speak.stderr)
    check(speak.returncode == 0, "speak streamed the talk and exited 0")
    check("he was not" in speak.stdout, "the speaker saw its own source captions")
    status, _ = server.request("DELETE", "/api/sessions/" + sid, None,
                               {"Authorization": "Bearer " + session["speaker_token"]})
    check(status == 204, "session ended")

    heard = {}
    for name, (proc, out) in listeners.items():
        lang = LISTENERS[name][0]
        stdout, stderr = proc.communicate(timeout=LISTEN_TIMEOUT_S)
        print(lang, stdout, stderr)
        check(proc.returncode == 0, "%s listener exited 0 when the session ended" % lang)
        summary = [l for l in stderr.splitlines() if l.startswith("listen:")]
        check(summary, "%s listener printed its summary" % lang)
        counts = re.match(r"listen: (\d+) captions \((\d+) final\)", summary[-1])
        check(counts, "summary has caption counts: %s" % summary[-1])
        captions, finals = int(counts.group(1)), int(counts.group(2))
        check(captions > finals >= 3, "%s listener got partial and final captions (%s)" % (lang, summary[-1]))
        with open(out + ".json") as f:
            seen = json.load(f)
        seen_text = " ".join(c["text"] for c in seen["cues"])
        for word in EXPECTED[lang]:
            check(word in seen_text.lower(), "%s captions contain '%s': %s" % (lang, word, seen_text))
        with wave.open(out + ".wav") as w:
            seconds = w.getnframes() / w.getframerate()
        check(seconds >= MIN_SPEECH_S_PER_UTTERANCE * len(seen["cues"]),
              "%s audio is %.1f s for %d utterances" % (name, seconds, len(seen["cues"])))
        heard[name] = (seen["cues"], seconds, audio_summary(summary[-1])[1])

        # The exports agree with what the listener saw, in every format.
        status, exported = server.request("GET", "/api/sessions/%s/transcript?lang=%s&format=json" % (sid, lang))
        check(status == 200 and [c["text"] for c in exported["cues"]] == [c["text"] for c in seen["cues"]],
              "%s JSON export matches the listener's captions" % lang)
        status, txt = server.request("GET", "/api/sessions/%s/transcript?lang=%s&format=txt" % (sid, lang))
        check(status == 200 and txt.splitlines() == [c["text"] for c in seen["cues"]],
              "%s TXT export matches" % lang)
        status, vtt = server.request("GET", "/api/sessions/%s/transcript?lang=%s&format=vtt" % (sid, lang))
        check(status == 200 and vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(seen["cues"]),
              "%s VTT export has one cue per caption" % lang)
        status, srt = server.request("GET", "/api/sessions/%s/transcript?lang=%s&format=srt" % (sid, lang))
        check(status == 200 and srt.count(" --> ") == len(seen["cues"]) and "," in srt.split(" --> ")[0],
              "%s SRT export has one cue per caption" % lang)
    pcm_cues, pcm_s, pcm_bytes = heard["es"]
    opus_cues, opus_s, opus_bytes = heard["es-opus"]
    check([c["text"] for c in opus_cues] == [c["text"] for c in pcm_cues],
          "the Opus listener saw the same captions")
    check(abs(opus_s - pcm_s) <= OPUS_EXTRA_S_PER_UTTERANCE * len(pcm_cues),
          "the Opus speech decodes to the same length: %.2f s vs %.2f s" % (opus_s, pcm_s))
    check(opus_bytes * OPUS_MIN_SAVING <= pcm_bytes,
          "Opus took %d bytes against %d for PCM16" % (opus_bytes, pcm_bytes))
    status, info = server.request("GET", "/api/sessions/" + sid)
    check(status == 200 and info["state"] == "ended", "session state is ended")
    status, src = server.request("GET", "/api/sessions/%s/transcript?format=txt" % sid)
    check("he was not" in src, "English transcript exported")


if __name__ == "__main__":
    # Every kind of caption must arrive here, partials included; on a busy
    # machine the session would fall behind and shed them (server_capacity
    # tests shedding), so the latency budget is one no run reaches.
    run_with_server("flow", test, extra=["--latency-budget-ms", str(NO_SHEDDING_BUDGET_MS)])
