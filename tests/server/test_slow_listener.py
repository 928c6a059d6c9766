"""A listener that stops reading is dropped with close 4408 once its oldest
unsent message is --listener-lag-ms old; a listener of the same session and
language that keeps up still gets every caption and all the speech, although
the speech of each utterance arrives in a burst faster than real time. A
speaker that sends audio but never reads is dropped the same way."""
import asyncio
import base64
import json
import os
import socket
import struct
import sys
import time
import wave

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server, send_talk  # noqa: E402

FRAME_BYTES = 3200
LAG_MS = 4000
NO_SHEDDING_BUDGET_MS = 3600 * 1000
SMALL_RCVBUF = 4096
DONE_TIMEOUT_S = 120
READ_TIMEOUT_S = 30
WS_OPCODE_TEXT = 1
WS_OPCODE_BINARY = 2
WS_OPCODE_CLOSE = 8
POLL_S = 1
MIN_CAPTIONS = 10
LAG_CHECK_S = 1  # the server's timer runs twice a second


def stalled_socket(port, path, what):
    """Opens a WebSocket by hand with a tiny receive buffer, completes the
    handshake and then reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  % (path, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    check(head.startswith(b"HTTP/1.1 101"), "stalled %s upgraded" % what)
    return sock


def stalled_listener(port, session_id):
    return stalled_socket(port, "/ws/listen/%s?lang=es" % session_id, "listener")


def client_frame(opcode, payload):
    """One masked WebSocket frame, as a client must send it."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    keystream = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")
    return head + mask + masked


def close_frame_of(sock):
    """Reads everything the server sent and returns the close frame's
    (code, reason), or None."""
    sock.settimeout(READ_TIMEOUT_S)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        # A speaker the server stopped reading (its queue was full) leaves
        # unread audio behind, so the server's close ends in a reset; what
        # arrived before it is still here.
        pass
    pos = 0
    while pos + 2 <= len(data):
        opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            length, pos = struct.unpack(">H", data[pos:pos + 2])[0], pos + 2
        elif length == 127:
            length, pos = struct.unpack(">Q", data[pos:pos + 8])[0], pos + 8
        payload = data[pos:pos + length]
        pos += length
        if opcode == WS_OPCODE_CLOSE and len(payload) >= 2:
            return struct.unpack(">H", payload[:2])[0], payload[2:].decode(errors="replace")
    return None


async def scenario(server, session, talk):
    finals, audio_ends, closes = [], [], []
    stalled = stalled_listener(server.port, session["id"])

    async def keep_up():
        url = "%s/ws/listen/%s?lang=es" % (server.ws_url, session["id"])
        async with websockets.connect(url, max_size=None) as ws:
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), DONE_TIMEOUT_S)
                    if isinstance(msg, bytes):
                        continue
                    m = json.loads(msg)
                    if m["type"] == "caption" and m["final"]:
                        finals.append(m["utterance"])
                    elif m["type"] == "audio_end":
                        audio_ends.append(m["utterance"])
                    elif m["type"] == "ended":
                        break
            except websockets.ConnectionClosed as e:
                closes.append((e.rcvd.code, e.rcvd.reason) if e.rcvd else None)

    listener = asyncio.create_task(keep_up())
    await asyncio.sleep(0.5)
    async with websockets.connect(server.speaker_url(session)) as ws:
        await send_talk(ws, talk, FRAME_BYTES)
        await ws.send(json.dumps({"type": "end"}))
        await asyncio.sleep(1)
    # The end is appended to the stream after all the audio, so the listener
    # gets "ended" only after every final and its speech.
    await asyncio.to_thread(server.request, "DELETE", "/api/sessions/" + session["id"], None,
                            {"Authorization": "Bearer " + session["speaker_token"]})
    await asyncio.wait_for(listener, DONE_TIMEOUT_S)
    status, es = await asyncio.to_thread(
        server.request, "GET", "/api/sessions/%s/transcript?lang=es&format=json" % session["id"])
    return finals, audio_ends, closes, es["cues"], await asyncio.to_thread(close_frame_of, stalled)


def source_cues(server, session_id):
    status, body = server.request("GET", "/api/sessions/%s/transcript?format=json" % session_id)
    return len(body["cues"]) if status == 200 else 0


def test_stalled_speaker(server, talk):
    """The speaker streams a talk and never reads: acknowledgements and its
    own captions pile up until it is dropped."""
    session = server.create_session(["es"])
    sock = stalled_socket(server.port, "/ws/speak/%s?token=%s" % (session["id"], session["speaker_token"]),
                          "speaker")
    with wave.open(talk) as w:
        audio = w.readframes(w.getnframes())
    for off in range(0, len(audio), FRAME_BYTES):
        sock.sendall(client_frame(WS_OPCODE_BINARY, audio[off:off + FRAME_BYTES]))
    sock.sendall(client_frame(WS_OPCODE_TEXT, json.dumps({"type": "end"}).encode()))
    # Wait until much of the talk is recognized (its captions pile up at the
    # speaker), then for the lag limit to pass. Counting, not waiting for a
    # quiet spell: on a busy machine recognition pauses between finals.
    count, deadline = 0, time.monotonic() + DONE_TIMEOUT_S
    while count < MIN_CAPTIONS and time.monotonic() < deadline:
        time.sleep(POLL_S)
        count = source_cues(server, session["id"])
    check(count >= MIN_CAPTIONS,
          "the talk was recognized while the speaker read nothing (%d captions)" % count)
    time.sleep(LAG_MS / 1000 + LAG_CHECK_S)
    close = close_frame_of(sock)
    check(close is not None and close[0] == 4408 and "speaker" in close[1],
          "the speaker that never read was dropped with 4408 (got %r)" % (close,))


def test(server):
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX * 3)
    session = server.create_session(["es"])
    finals, audio_ends, closes, cues, close = asyncio.run(scenario(server, session, talk))
    check(close is not None and close[0] == 4408,
          "the stalled listener was dropped with 4408 (got %r)" % (close,))
    check(not closes, "the listener that kept up was not closed early (%r)" % closes)
    stored = [c["utterance"] for c in cues]
    check(len(stored) >= 10 and finals == stored, "the listener that kept up got every final: %s (stored %s)" % (finals, stored))
    check(audio_ends == [u for u in stored if u in audio_ends] and len(audio_ends) == len(stored),
          "and the speech of every final, in order: %s" % audio_ends)
    # Twice the talk: its acknowledgements and captions must outgrow the
    # kernel's buffers before the server's own queue holds any.
    test_stalled_speaker(server, make_talk(os.path.join(server.tmp, "long.wav"), LIBRIVOX * 6))
    status, body = server.request("GET", "/healthz")
    check(status == 200, "server healthy")


if __name__ == "__main__":
    # A short lag limit so the drop happens within the talk. The talks go
    # out at full speed, so their sessions fall behind; a latency budget
    # no talk here reaches keeps them from shedding partials, whose pile-up
    # at the stalled speaker is what gets it dropped.
    run_with_server("slow_listener", test, extra=["--listener-lag-ms", str(LAG_MS),
                                                  "--latency-budget-ms", str(NO_SHEDDING_BUDGET_MS)])
