"""A full disk: the data directory on a small tmpfs, filled up. A final
caption that cannot be stored is not delivered live (it would be missing
from the transcript and from replays); once space returns it is stored and
delivered, once. New sessions get 507 disk_full, and a speaker whose audio
cannot be logged is told the cause. Needs permission to mount a tmpfs;
skips (exit 77) where there is none."""
import asyncio
import errno
import json
import os
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import SPEECH_DIR, Server, check, fail  # noqa: E402

SKIP = 77
TMPFS_SIZE = "5m"
GOFORWARD = os.path.join(SPEECH_DIR, "goforward.raw")
EXPECTED = "go forward ten meters"
FRAME_BYTES = 3200
WAIT_S = 60
# After the failed store is logged, a caption delivered anyway would reach
# the listener within milliseconds; this is far more than enough.
DELIVERY_GRACE_S = 3
FULL_FRAMES_MAX = 4000  # 12.8 MB of audio: more than the whole file system


def fill(directory):
    """Writes a file until the file system is full; returns its path."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return path


def log_has(server, text):
    server.log.flush()
    with open(os.path.join(server.tmp, "server.log"), "rb") as f:
        return text.encode() in f.read()


async def wait_log(server, text):
    deadline = time.time() + WAIT_S
    while not log_has(server, text):
        if time.time() > deadline:
            fail("the server never logged %r" % text)
        await asyncio.sleep(0.2)


async def caption_waits_for_space(server, data_dir):
    session = server.create_session([])
    listen_url = "%s/ws/listen/%s?lang=en" % (server.ws_url, session["id"])
    finals = []
    async with websockets.connect(listen_url) as listener:
        async def collect():
            try:
                while True:
                    msg = json.loads(await listener.recv())
                    if msg["type"] == "caption" and msg["final"]:
                        finals.append(msg["text"])
                    if msg["type"] == "ended":
                        return True
            except websockets.ConnectionClosed:
                return False
        collector = asyncio.create_task(collect())
        filler = fill(data_dir)
        with open(GOFORWARD, "rb") as f:
            audio = f.read()
        async with websockets.connect(server.speaker_url(session)) as speaker:
            await speaker.recv()  # ready
            for off in range(0, len(audio), FRAME_BYTES):
                await speaker.send(audio[off:off + FRAME_BYTES])
            await speaker.send(json.dumps({"type": "end"}))
            await wait_log(server, "caption not stored")
            await asyncio.sleep(DELIVERY_GRACE_S)
            check(finals == [], "no final caption delivered while it cannot be stored (got %r)"
                  % finals)
            status, body = await asyncio.to_thread(server.request, "POST", "/api/sessions",
                                                   {"source": "en", "targets": []})
            check(status == 507 and body.get("code") == "disk_full" and
                  "no space left" in body.get("error", ""),
                  "POST while the disk is full -> 507 disk_full (got %d %r)" % (status, body))
            os.unlink(filler)
            deadline = time.time() + WAIT_S
            while not finals and time.time() < deadline:
                await asyncio.sleep(0.2)
            check(finals == [EXPECTED], "once space returned the caption was delivered (%r)"
                  % finals)
        status, _ = await asyncio.to_thread(
            server.request, "DELETE", "/api/sessions/" + session["id"], None,
            {"Authorization": "Bearer " + session["speaker_token"]})
        check(status == 204, "session ended (%d)" % status)
        ended = await asyncio.wait_for(collector, WAIT_S)
    check(ended and finals == [EXPECTED], "delivered exactly once by the end (%r)" % finals)
    status, text = server.request("GET", "/api/sessions/%s/transcript?lang=en&format=txt"
                                  % session["id"])
    check(status == 200 and text.count(EXPECTED) == 1, "and stored once (%r)" % text)


async def speaker_told_disk_full(server, data_dir):
    session = server.create_session([])
    async with websockets.connect(server.speaker_url(session)) as speaker:
        await speaker.recv()  # ready
        filler = fill(data_dir)
        try:
            for _ in range(FULL_FRAMES_MAX):
                await speaker.send(b"\0" * FRAME_BYTES)
            while True:
                await asyncio.wait_for(speaker.recv(), WAIT_S)
        except websockets.ConnectionClosed:
            pass
        # A client still sending may see only the reset after the server's
        # close frame (1006): the server's log witnesses what it sent.
        told = speaker.close_code == 4503 and "no space left on the server's disk" in \
            speaker.close_reason
        logged = log_has(server, "speaker closed with 4503: no space left on the server's disk")
        check(told or logged, "the speaker's close names the full disk (client saw %s %r)"
              % (speaker.close_code, speaker.close_reason))
        os.unlink(filler)


def with_tmpfs(run):
    mount_point = tempfile.mkdtemp(prefix="babelcast-full-")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "tmpfs",
                           mount_point], capture_output=True, text=True)
    if done.returncode != 0:
        os.rmdir(mount_point)
        print("SKIP: cannot mount a tmpfs here (%s)" % (done.stderr.strip() or done.returncode))
        sys.exit(SKIP)
    try:
        run(mount_point)
    finally:
        subprocess.run(["umount", "-l", mount_point])
        os.rmdir(mount_point)


def phase(binary, mount_point, name, extra, test):
    data_dir = os.path.join(mount_point, name)
    with Server(binary, data_dir=data_dir, extra=extra).start() as server:
        asyncio.run(test(server, data_dir))


def main():
    binary = sys.argv[1]

    def run(mount_point):
        phase(binary, mount_point, "memstream", ["--stream", "mem://"], caption_waits_for_space)
        phase(binary, mount_point, "filestream", [], speaker_told_disk_full)
    with_tmpfs(run)
    print("disk_full: all passed")


if __name__ == "__main__":
    main()
