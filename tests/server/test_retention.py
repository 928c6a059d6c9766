"""Transcript deletion and retention: the speaker deletes a transcript
(every language) with its token, later GETs answer 404 "transcript
deleted"; sessions ended longer ago than --retention-days lose their
transcripts and archived speech at the next start, newer ones keep them."""
import asyncio
import json
import os
import sqlite3
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, check, fail, speak_raw, with_server  # noqa: E402
from rawhttp import exchange  # noqa: E402

WAIT_S = 120
DAY_MS = 24 * 3600 * 1000


async def talk(server, session):
    """Speaks goforward.raw; returns once the Spanish speech of it ended
    (its caption is stored, its audio archived); then ends the session."""
    listen = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])
    async with websockets.connect(listen) as listener:
        await speak_raw(server, session)
        spoken = False
        while not spoken:
            msg = await asyncio.wait_for(listener.recv(), WAIT_S)
            spoken = isinstance(msg, str) and json.loads(msg)["type"] == "audio_end"


def transcript(server, session, lang):
    return server.request("GET", "/api/sessions/%s/transcript?lang=%s&format=json"
                          % (session["id"], lang))


def end(server, session):
    status, _ = server.request("DELETE", "/api/sessions/" + session["id"], None,
                               {"Authorization": "Bearer " + session["speaker_token"]})
    if status != 204:
        fail("ending %s answered %d" % (session["id"], status))


def deletion(server):
    session = server.create_session(["es"])
    asyncio.run(talk(server, session))
    for lang in ("en", "es"):
        status, body = transcript(server, session, lang)
        check(status == 200 and body, "the %s transcript has captions before" % lang)
    path = "/api/sessions/%s/transcript" % session["id"]
    for name, headers in [("no token", []),
                          ("a wrong token", [("Authorization", "Bearer " + "0" * 32)]),
                          ("the token in the query only", [])]:
        p = path + ("?token=" + session["speaker_token"] if "query" in name else "")
        status, _, body = exchange(server.port, "DELETE", p, headers)
        check(status == 401 and body.get("code") == "bad_token",
              "DELETE transcript with %s -> 401 (got %d)" % (name, status))
    status, body = transcript(server, session, "es")
    check(status == 200 and body, "the transcript is intact after the refusals")
    status, _, body = exchange(server.port, "DELETE", path,
                               [("Authorization", "Bearer " + session["speaker_token"])])
    check(status == 204, "DELETE transcript with the speaker token -> 204 (got %d %r)"
          % (status, body))
    for lang in ("en", "es", "ca"):
        status, body = transcript(server, session, lang)
        check(status == 404 and body.get("code") == "transcript_deleted" and
              body.get("error") == "transcript deleted",
              "GET %s transcript -> 404 transcript deleted (got %d %r)" % (lang, status, body))
    status, body = server.request("GET", "/api/sessions/" + session["id"])
    check(status == 200 and body["state"] == "live", "the session itself is still live")
    end(server, session)


def retention(binary):
    with Server(binary).start() as first:
        old = first.create_session(["es"])
        recent = first.create_session(["es"])
        for session in (old, recent):
            asyncio.run(talk(first, session))
            end(first, session)
        audio = os.path.join(first.data_dir, "audio")
        check(os.path.isdir(os.path.join(audio, old["id"])) and
              os.path.isdir(os.path.join(audio, recent["id"])), "both sessions' speech archived")
        first.stop()
        # As if the first one ended 31 days ago.
        db = sqlite3.connect(os.path.join(first.data_dir, "sessions.db"))
        db.execute("UPDATE sessions SET ended_ms = ended_ms - ? WHERE id = ?", (31 * DAY_MS, old["id"]))
        db.commit()
        db.close()
        with Server(binary, data_dir=first.data_dir, extra=["--retention-days", "30"]).start() as second:
            deadline = time.time() + WAIT_S
            while time.time() < deadline:
                status, body = transcript(second, old, "es")
                if status == 404 and os.path.exists(os.path.join(audio, old["id"])) is False:
                    break
                time.sleep(0.2)
            status, body = transcript(second, old, "es")
            check(status == 404 and body.get("code") == "transcript_deleted",
                  "the transcript of a session ended 31 days ago is deleted (%d %r)" % (status, body))
            status, body = transcript(second, old, "en")
            check(status == 404, "in every language (%d)" % status)
            check(not os.path.exists(os.path.join(audio, old["id"])), "and its archived speech")
            status, body = transcript(second, recent, "es")
            check(status == 200 and body, "a session ended today keeps its transcript (%d)" % status)
            check(os.listdir(os.path.join(audio, recent["id"], "es")), "and its archived speech")


def main():
    binary = sys.argv[1]
    with_server(binary, deletion)
    retention(binary)
    print("retention: all passed")


if __name__ == "__main__":
    main()
