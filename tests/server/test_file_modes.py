"""Everything the server writes under its data directory is private to its
user: directories 0700, files 0600 (the stream log and its checkpoints,
the audio archive, the registry), whatever the umask."""
import asyncio
import json
import os
import stat
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import check, run_with_server, speak_raw  # noqa: E402

WAIT_S = 120


async def talk(server):
    session = server.create_session(["es"])
    listen = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])
    async with websockets.connect(listen) as listener:
        await speak_raw(server, session)
        spoken = False
        while not spoken:
            msg = await asyncio.wait_for(listener.recv(), WAIT_S)
            spoken = isinstance(msg, str) and json.loads(msg)["type"] == "audio_end"
        status, _ = await asyncio.to_thread(
            server.request, "DELETE", "/api/sessions/" + session["id"], None,
            {"Authorization": "Bearer " + session["speaker_token"]})
        check(status == 204, "session ended")


def walk_modes(server):
    """Checks the mode of everything under the data directory. Returns what
    it saw, and whether a file vanished while it looked: a temporary file
    renamed into place (the archive's transcripts are written at the end of
    the session, as the test looks)."""
    found = {"dirs": 0, "files": 0, "wav": 0, "log": 0, "db": 0}
    vanished = False
    for root, dirs, files in os.walk(server.data_dir):
        mode = stat.S_IMODE(os.stat(root).st_mode)
        check(mode == 0o700, "directory %s is 0700 (%o)" % (os.path.relpath(root, server.tmp), mode))
        found["dirs"] += 1
        for name in files:
            path = os.path.join(root, name)
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:
                vanished = True
                continue
            check(mode == 0o600, "file %s is 0600 (%o)" % (os.path.relpath(path, server.tmp), mode))
            found["files"] += 1
            found["wav"] += name.endswith(".wav")
            found["log"] += name == "log"
            found["db"] += name == "sessions.db"
    return found, vanished


def test(server):
    asyncio.run(talk(server))
    deadline = time.monotonic() + WAIT_S
    found, vanished = walk_modes(server)
    while vanished and time.monotonic() < deadline:
        time.sleep(0.2)
        found, vanished = walk_modes(server)
    check(not vanished, "a walk saw every file in place")
    check(found["wav"] > 0 and found["log"] > 0 and found["db"] == 1,
          "the walk saw the archive, the stream log and the registry (%r)" % found)


if __name__ == "__main__":
    os.umask(0)  # the modes must come from the server, not from a umask
    run_with_server("file_modes", test)
