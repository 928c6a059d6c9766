"""Full flow: a session, listeners in Spanish and Catalan, and a speaker
streaming real speech in real time, all through the babelcast binary's own
clients; then the transcript exports match what the listeners saw."""
import json
import os
import re
import subprocess
import sys
import wave

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run, run_with_server  # noqa: E402

LISTEN_TIMEOUT_S = 120
# Words the engines produce for these clips ("young man", "amiable"...).
EXPECTED = {"es": ["joven", "hombre"], "ca": ["jove", "home"]}
MIN_SPEECH_S_PER_UTTERANCE = 0.5


def test(server):
    binary = server.binary
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX[1:3] + LIBRIVOX[4:5])
    session = server.create_session(["es", "ca"])
    sid = session["id"]
    listeners = {}
    for lang in ("es", "ca"):
        out = os.path.join(server.tmp, lang)
        listeners[lang] = (subprocess.Popen(
            [binary, "listen", server.url, "--session", sid, "--lang", lang,
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

    for lang, (proc, out) in listeners.items():
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
              "%s audio is %.1f s for %d utterances" % (lang, seconds, len(seen["cues"])))

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
    status, info = server.request("GET", "/api/sessions/" + sid)
    check(status == 200 and info["state"] == "ended", "session state is ended")
    status, src = server.request("GET", "/api/sessions/%s/transcript?format=txt" % sid)
    check("he was not" in src, "English transcript exported")


if __name__ == "__main__":
    run_with_server("flow", test)
