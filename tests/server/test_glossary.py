"""Glossary per session through the API, with real speech: a kept name and a
term with given translations come out as given in es, ca and fr (pivoted
through es); a PUT mid-session applies from the next utterance, to
recognition too (the librivox clip with "prudently", recognized as
"crudely" without the term and as "prudently" with it); bad
glossaries get a 400 with the reason and leave the session as it was; the
translate CLI takes the same terms from a file; and a worker in another
process (gateway and worker sharing Redis) applies them the same way."""
import asyncio
import json
import os
import sys
import tempfile
import wave

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, fail, run, run_with_server  # noqa: E402

FRAME_BYTES = 6400
WAIT_S = 120
LANGS = ("es", "ca", "fr")
# Long enough for the worker's registry poll (every 0.5 s) to see a PUT
# before the next utterance's audio is processed.
AFTER_PUT_S = 1.5

FIRST = [
    {"term": "Dashwood", "keep": True},
    {"term": "young man", "translations": {"es": "mozo", "ca": "minyó", "fr": "garçon"}},
]
SECOND = [{"term": "young man", "translations": {"es": "chaval", "ca": "noi", "fr": "gamin"}},
          {"term": "prudently", "translations": {"es": "prudentemente"}}]
SECOND_TEXT = ("# a comment\nyoung man\tes=chaval\tca=noi\tfr=gamin\n"
               "prudently\tes=prudentemente\n")


def pcm_of(path, silence_s=1.0):
    with wave.open(path) as w:
        return w.readframes(w.getnframes()) + b"\0\0" * int(16000 * silence_s)


def bad_requests(server):
    def bad(body, expect, what, method="POST", path="/api/sessions", headers=None):
        status, answer = server.request(method, path, body, headers)
        check(status == 400 and answer.get("code") == "bad_glossary" and expect in answer["error"],
              "%s -> 400 bad_glossary: %s" % (what, answer))

    status, health = server.request("GET", "/healthz")
    before = health["sessions"]
    bad({"targets": ["es"], "glossary": [{"term": "x" * 65}]}, "longer than 64 bytes", "a term too long")
    bad({"targets": ["es"], "glossary": [{"term": ""}]}, "term 1 is empty", "an empty term")
    bad({"targets": ["es"], "glossary": [{"term": "ok"}, {"term": "  "}]}, "term 2 is empty",
        "a blank second term")
    bad({"targets": ["es"], "glossary": [{"term": "x", "translations": {"zz": "y"}}]},
        "unknown language 'zz'", "an unknown language")
    bad({"targets": ["es"], "glossary": [{"term": "t%d" % i} for i in range(101)]},
        "more than 100 terms", "too many terms")
    bad({"targets": ["es"], "glossary": {"term": "x"}}, "must be an array", "not an array")
    raw = b'{"targets": ["es"], "glossary": [{"term": "caf\xe9"}]}'
    bad(raw, "not valid UTF-8", "a term in Latin-1, not UTF-8")
    status, health = server.request("GET", "/healthz")
    check(health["sessions"] == before, "no session was created by a bad glossary")


async def listen(server, session, lang, finals, want):
    url = "%s/ws/listen/%s?lang=%s" % (server.ws_url, session["id"], lang)
    async with websockets.connect(url) as ws:
        while len(finals) < want:
            msg = await asyncio.wait_for(ws.recv(), WAIT_S)
            if isinstance(msg, str):
                msg = json.loads(msg)
                if msg["type"] == "caption" and msg["final"]:
                    finals.append(msg["text"])


async def live(server, session):
    token = {"Authorization": "Bearer " + session["speaker_token"]}
    path = "/api/sessions/%s/glossary" % session["id"]
    finals = {lang: [] for lang in ("en",) + LANGS}
    listeners = [asyncio.ensure_future(listen(server, session, lang, finals[lang], 4))
                 for lang in finals]
    await asyncio.sleep(1)
    async with websockets.connect(server.speaker_url(session)) as speaker:
        await speaker.recv()  # ready
        part1 = pcm_of(LIBRIVOX[0]) + pcm_of(LIBRIVOX[1])
        for off in range(0, len(part1), FRAME_BYTES):
            await speaker.send(part1[off:off + FRAME_BYTES])
        while any(len(f) < 2 for f in finals.values()):
            await asyncio.sleep(0.2)
            if any(t.done() and t.exception() for t in listeners):
                fail("a listener failed: %r" % [t.exception() for t in listeners if t.done()])
        status, answer = server.request("PUT", path, SECOND_TEXT.encode(),
                                        dict(token, **{"Content-Type": "text/plain"}))
        check(status == 200 and answer["version"] == 2 and answer["glossary"] == SECOND,
              "PUT of the text form mid-session: %s" % answer)
        await asyncio.sleep(AFTER_PUT_S)
        part2 = pcm_of(LIBRIVOX[1]) + pcm_of(LIBRIVOX[0])
        for off in range(0, len(part2), FRAME_BYTES):
            await speaker.send(part2[off:off + FRAME_BYTES])
        await speaker.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(asyncio.gather(*listeners), WAIT_S)
    for lang in finals:
        print("%s: %s" % (lang, finals[lang]))
    check("Dashwood" in finals["en"][0], "the source caption spells the name as the glossary does")
    for lang in LANGS:
        check("Dashwood" in finals[lang][0], "%s: the kept name passes untranslated" % lang)
        want = FIRST[1]["translations"][lang]
        check(want in finals[lang][1], "%s: 'young man' comes out as given: %s" % (lang, want))
        want2 = SECOND[0]["translations"][lang]
        check(want2 in finals[lang][2] and want not in finals[lang][2],
              "%s: after the PUT the next utterance has the new translation %s" % (lang, want2))
    check("prudently" not in finals["en"][0] and "prudently" in finals["en"][3],
          "'prudently' is recognized only once it is in the glossary")
    check("prudentemente" in finals["es"][3], "and comes out in Spanish as given")


def test(server):
    bad_requests(server)
    status, session = server.request("POST", "/api/sessions",
                                     {"targets": list(LANGS), "glossary": FIRST})
    check(status == 201, "a session is created with a glossary")
    path = "/api/sessions/%s/glossary" % session["id"]
    token = {"Authorization": "Bearer " + session["speaker_token"]}
    status, answer = server.request("GET", path)
    check(status == 200 and answer == {"glossary": FIRST, "version": 1},
          "GET answers the glossary: %s" % answer)
    status, answer = server.request("PUT", path, {"glossary": SECOND})
    check(status == 401, "PUT without the speaker token -> 401")
    status, answer = server.request("PUT", path, {"glossary": [{"term": "a", "keep": True,
                                                               "translations": {"es": "b"}}]},
                                    token)
    check(status == 400 and "exclude each other" in answer["error"],
          "PUT of a bad glossary -> 400: %s" % answer)
    status, answer = server.request("PUT", path, b"x\tes=\n", dict(token, **{"Content-Type": "text/plain"}))
    check(status == 400 and answer["error"].startswith("line 1:"),
          "PUT of bad text names the line: %s" % answer)
    status, answer = server.request("GET", path)
    check(answer == {"glossary": FIRST, "version": 1}, "refused PUTs leave the glossary: %s" % answer)
    status, answer = server.request("POST", path, {"glossary": SECOND}, token)
    check(status == 405, "POST on the glossary -> 405")
    asyncio.run(live(server, session))
    status, answer = server.request("DELETE", "/api/sessions/" + session["id"], None, token)
    status, answer = server.request("PUT", path, {"glossary": SECOND}, token)
    check(status == 409, "PUT after the end -> 409 session_ended")
    status, answer = server.request("GET", path)
    check(status == 200 and answer["glossary"] == SECOND, "the last glossary stays readable")


def cli(binary):
    with tempfile.TemporaryDirectory() as tmp:
        glossary = os.path.join(tmp, "terms.txt")
        with open(glossary, "w") as f:
            f.write("Dashwood\tkeep\nyoung man\tes=mozo\tca=minyó\tfr=garçon\n")
        for clip, words in ((LIBRIVOX[0], {l: "Dashwood" for l in LANGS}),
                            (LIBRIVOX[1], FIRST[1]["translations"])):
            out = os.path.join(tmp, "out")
            res = run(binary, "translate", clip, "--to", ",".join(LANGS), "--no-speech", "--quiet",
                      "--out", out, "--glossary", glossary)
            check(res.returncode == 0, "translate --glossary exits 0 (%s)" % res.stderr.strip())
            name = os.path.splitext(os.path.basename(clip))[0]
            for lang in LANGS:
                with open(os.path.join(out, "%s.%s.txt" % (name, lang))) as f:
                    text = f.read()
                check(words[lang] in text, "translate --glossary: %s has %s: %s" %
                      (lang, words[lang], text.strip()))
        with open(glossary, "w") as f:
            f.write("fine\nbad\txx=y\n")
        res = run(binary, "translate", LIBRIVOX[1], "--glossary", glossary, "--out", tmp)
        check(res.returncode == 2 and "line 2" in res.stderr and "'xx'" in res.stderr,
              "a bad glossary file is a usage error naming the line: %s" % res.stderr.strip())


def scaled_out(binary):
    """The same talk through a gateway and a worker in separate processes
    that share Redis: the worker reads each glossary from the registry."""
    from cluster import Cluster
    with Cluster(binary) as cluster:
        gateway = cluster.node("gateway")
        cluster.node("worker")
        cluster.wait_for_catalog(gateway)
        status, session = gateway.request("POST", "/api/sessions",
                                          {"targets": list(LANGS), "glossary": FIRST})
        check(status == 201, "a session with a glossary on a gateway backed by Redis")
        asyncio.run(live(gateway, session))


if __name__ == "__main__":
    cli(sys.argv[1])
    scaled_out(sys.argv[1])
    run_with_server("glossary", test)
