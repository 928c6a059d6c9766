"""Simultaneous mode: a long sentence of real speech reaches a Spanish
listener as several chunks of audio, the first ones spoken from input that
ended before the sentence did and sent before the sentence's final caption;
committed caption text is never taken back; the final carries the content
words. The chunks' audio, PCM16 and Opus, is framed chunk after chunk, in
order, each holding exactly the samples it announces, so that a listener
playing them back to back plays them without gap or overlap; and pacing
keeps the chunks' speech from trailing far behind the sentence (checked on
the stream's timeline, so the machine's speed does not matter). Also: the
mode is validated, stored and reported, and a sentence-mode session's
messages carry none of the chunk fields."""
import asyncio
import json
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from harness import LIBRIVOX, check, make_talk, run_with_server, send_talk, speak_raw  # noqa: E402

FRAME_BYTES = 3200  # 100 ms of PCM16 at 16 kHz
TIMEOUT_S = 120
# The 6.8 s sentence of LIBRIVOX[0] in Spanish, as the engines translate it
# whole ("...considerar nuestro reloj...").
CONTENT_WORDS = ["dashwood", "considerar", "reloj", "poder"]
MIN_CHUNKS = 2
# Pacing (src/pipeline/pacer.h): a listener playing the chunks back to back,
# each from when its input was in (its source_end_ms), starts the last one
# at most this long after the sentence ended (unpaced: about 2.5 s; paced,
# with chunks held while the listener is busy: about 0.5 s), and the
# chunks' speech lasts at most this share of the sentence's (unpaced:
# about 1.0).
MAX_LAST_CHUNK_AFTER_END_S = 1.2
MAX_AUDIO_PER_SOURCE = 0.95
# Opus: one packet per frame of audio_start's frame_ms; its length matches
# the PCM16 chunk's up to the padding of the last frame and resampling.
RESAMPLE_SLACK_S = 0.01
OPUS_FRAME_MS = 60


def create(server, mode):
    body = {"source": "en", "targets": ["es"]}
    if mode is not None:
        body["mode"] = mode
    return server.request("POST", "/api/sessions", body)


async def listen(server, sid, messages, ready, codec):
    """Appends every message of a Spanish listener socket, in order: dicts
    for JSON, ("audio", n_bytes) for binary frames, until "ended"."""
    url = "%s/ws/listen/%s?lang=es&codec=%s" % (server.ws_url, sid, codec)
    async with websockets.connect(url, max_size=None) as ws:
        ready.set()
        async for raw in ws:
            if isinstance(raw, bytes):
                messages.append(("audio", len(raw)))
                continue
            msg = json.loads(raw)
            messages.append(msg)
            if msg.get("type") == "ended":
                return


async def run_session(server, session, speak, codec="pcm16"):
    """The messages of a PCM16 listener, and of an Opus one when codec is "opus"."""
    messages, opus = [], []
    ready, opus_ready = asyncio.Event(), asyncio.Event()
    listener = asyncio.ensure_future(listen(server, session["id"], messages, ready, "pcm16"))
    await asyncio.wait_for(ready.wait(), TIMEOUT_S)
    if codec == "opus":
        opus_listener = asyncio.ensure_future(
            listen(server, session["id"], opus, opus_ready, "opus"))
        await asyncio.wait_for(opus_ready.wait(), TIMEOUT_S)
    await speak()
    await asyncio.sleep(0)
    status, _ = await asyncio.get_running_loop().run_in_executor(
        None, lambda: server.request("DELETE", "/api/sessions/" + session["id"], None,
                                     {"Authorization": "Bearer " + session["speaker_token"]}))
    check(status == 204, "session ended")
    await asyncio.wait_for(listener, TIMEOUT_S)
    if codec == "opus":
        await asyncio.wait_for(opus_listener, TIMEOUT_S)
        return messages, opus
    return messages


def check_mode_api(server):
    status, body = create(server, "fast")
    check(status == 400 and isinstance(body, dict) and body.get("code") == "bad_request",
          "an unknown mode is refused with 400 JSON: %s %s" % (status, body))
    status, body = create(server, 3)
    check(status == 400, "a mode that is not a string is refused: %s" % status)
    status, body = create(server, None)
    check(status == 201 and body["mode"] == "sentence", "the default mode is sentence")
    status, got = server.request("GET", "/api/sessions/" + body["id"])
    check(status == 200 and got["mode"] == "sentence", "GET reports the mode: %s" % got)
    status, body = create(server, "simultaneous")
    check(status == 201 and body["mode"] == "simultaneous", "simultaneous accepted")
    status, got = server.request("GET", "/api/sessions/" + body["id"])
    check(got["mode"] == "simultaneous", "GET reports simultaneous: %s" % got)
    return body


def by_utterance(messages):
    """{utterance: [(index, message)]} of the JSON messages that name one."""
    out = {}
    for i, m in enumerate(messages):
        if isinstance(m, dict) and "utterance" in m:
            out.setdefault(m["utterance"], []).append((i, m))
    return out


def check_committed_only_grows(utt, items):
    committed = ""
    final = None
    for _, m in items:
        if m["type"] != "caption":
            continue
        if m["final"]:
            final = m
            continue
        now = m.get("committed", "")
        check(now.startswith(committed),
              "utterance %d: committed text only grows: %r then %r" % (utt, committed, now))
        check(m["text"].startswith(now), "a caption's text starts with its committed text")
        committed = now
    check(final is not None, "utterance %d has a final caption" % utt)
    check(final["text"].startswith(committed),
          "utterance %d: the final %r keeps the committed %r" % (utt, final["text"], committed))
    return committed, final


def audio_chunks(messages, items):
    """[(index of audio_start, message, bytes of audio)] of the utterance's chunks."""
    chunks = []
    for i, m in items:
        if m["type"] != "audio_start":
            continue
        n = 0
        for later in messages[i + 1:]:
            if isinstance(later, tuple):
                n += later[1]
            elif later.get("type") == "audio_end":
                break
        chunks.append((i, m, n))
    return chunks


def check_audio_framing(messages, codec):
    """Every binary frame lies between an audio_start and its audio_end, which
    name the same utterance and chunk; chunks of an utterance come in order,
    one after the other, never interleaved. PCM16: each chunk's frames hold
    exactly the samples its audio_end counts (nothing lost, nothing extra).
    Opus: one packet per frame_ms, and the packets make up the samples its
    audio_end counts. Returns {utterance: last chunk} and
    {(utterance, chunk): seconds of audio}."""
    current, n_bytes, n_frames, last_chunk, seconds = None, 0, 0, {}, {}
    for m in messages:
        if isinstance(m, tuple):
            check(current is not None, "%s audio frame inside a chunk" % codec)
            n_bytes += m[1]
            n_frames += 1
            continue
        if m.get("type") == "audio_start":
            check(current is None, "%s: a chunk starts after the previous one ended" % codec)
            current, n_bytes, n_frames = m, 0, 0
            utt, chunk = m["utterance"], m.get("chunk", 0)
            check(chunk > last_chunk.get(utt, -1),
                  "%s: utterance %d chunk %d follows chunk %d" % (codec, utt, chunk,
                                                                 last_chunk.get(utt, -1)))
            last_chunk[utt] = chunk
        elif m.get("type") == "audio_end":
            check(current is not None and m["utterance"] == current["utterance"] and
                  m.get("chunk") == current.get("chunk"), "%s: audio_end closes its chunk" % codec)
            if codec == "pcm16":
                check(n_bytes == 2 * m["samples"],
                      "pcm16 chunk %s: %d bytes for %d samples" % (m.get("chunk"), n_bytes,
                                                                    m["samples"]))
            else:
                frame = current["sample_rate"] * current["frame_ms"] // 1000
                check(n_bytes > 0 and m["samples"] == n_frames * frame,
                      "opus chunk %s: %d packets of %d samples for %d samples" %
                      (m.get("chunk"), n_frames, frame, m["samples"]))
            seconds[(m["utterance"], m.get("chunk", 0))] = m["samples"] / current["sample_rate"]
            current = None
    return last_chunk, seconds


def check_same_audio(pcm_seconds, opus_seconds):
    """The Opus listener gets each chunk with the PCM16 one's length, padded
    to a whole frame."""
    check(sorted(pcm_seconds) == sorted(opus_seconds),
          "Opus listeners get the same chunks: %s, %s" % (sorted(pcm_seconds),
                                                          sorted(opus_seconds)))
    frame_s = OPUS_FRAME_MS / 1000
    for key, pcm in pcm_seconds.items():
        opus = opus_seconds[key]
        check(pcm - RESAMPLE_SLACK_S <= opus <= pcm + frame_s + RESAMPLE_SLACK_S,
              "chunk %s: %.3f s of Opus for %.3f s of PCM16" % (key, opus, pcm))


def check_paced(messages, items, final):
    """Plays the utterance's chunks back to back on the stream's timeline,
    each from its source_end_ms: the last one starts soon after the
    sentence ended, and the chunks' speech is shorter than the sentence's."""
    chunks = audio_chunks(messages, items)
    play_end, last_start, total = 0.0, 0.0, 0.0
    for _, m, n in chunks:
        length = n / 2 / m["sample_rate"]
        last_start = max(play_end, m.get("source_end_ms", final["source_end_ms"]) / 1000)
        play_end = last_start + length
        total += length
    source = (final["source_end_ms"] - final["source_start_ms"]) / 1000
    after_end = last_start - final["source_end_ms"] / 1000
    print("paced: %.2f s of speech for %.2f s of source; last chunk %.2f s after the end" %
          (total, source, after_end))
    check(total <= MAX_AUDIO_PER_SOURCE * source,
          "%.2f s of chunk speech for a %.2f s sentence" % (total, source))
    check(after_end <= MAX_LAST_CHUNK_AFTER_END_S,
          "the last chunk starts %.2f s after the sentence ended" % after_end)


def check_simultaneous(messages):
    utterances = by_utterance(messages)
    check(utterances, "the listener got captions")
    longest = None
    for utt, items in utterances.items():
        committed, final = check_committed_only_grows(utt, items)
        if longest is None or len(final["text"]) > len(longest[2]["text"]):
            longest = (utt, items, final, committed)
    utt, items, final, committed = longest
    print("utterance %d committed %r; final %r" % (utt, committed, final["text"]))
    final_at = next(i for i, m in items if m["type"] == "caption" and m["final"])
    chunks = audio_chunks(messages, items)
    indexes = [m.get("chunk") for _, m, _ in chunks]
    print("audio chunks:", [(i, m.get("chunk"), m.get("source_end_ms"), n) for i, m, n in chunks])
    check(len(chunks) >= MIN_CHUNKS, "the sentence came as %d chunks of audio" % len(chunks))
    # A piece of audio is numbered by the last chunk it speaks.
    committed_chunks = sum(1 for _, m in items if m["type"] == "caption" and "chunk" in m)
    check(indexes == sorted(set(indexes)) and indexes[-1] <= committed_chunks,
          "pieces arrive in order, each numbered by a chunk of the %d committed (or the "
          "final's rest): %s" % (committed_chunks, indexes))
    # Chunks made of input that ended before the sentence did, whose audio
    # went out before the sentence's final caption.
    early = [(i, m, n) for i, m, n in chunks
             if i < final_at and m.get("source_end_ms", final["source_end_ms"]) <
             final["source_end_ms"]]
    check(len(early) >= MIN_CHUNKS,
          "%d chunks spoke before the sentence ended (by stream position)" % len(early))
    for _, _, n in early:
        check(n > 0, "an early chunk carries audio")
    check(committed, "words were committed before the final")
    text = final["text"].lower()
    for word in CONTENT_WORDS:
        check(word in text, "the chunks carry %r: %s" % (word, final["text"]))
    check(any(word in committed.lower() for word in CONTENT_WORDS),
          "content words arrived in chunks before the final: %r" % committed)
    check_paced(messages, items, final)


def check_sentence(messages):
    for m in messages:
        if isinstance(m, dict):
            check("chunk" not in m and "committed" not in m,
                  "sentence mode messages carry no chunk fields: %s" % m)
    check(any(isinstance(m, dict) and m.get("type") == "audio_start" for m in messages),
          "sentence mode still speaks")


def test(server):
    session = check_mode_api(server)
    talk = make_talk(os.path.join(server.tmp, "talk.wav"), LIBRIVOX[0:1])

    async def speak_talk():
        async with websockets.connect(server.speaker_url(session)) as ws:
            await send_talk(ws, talk, FRAME_BYTES)
            await ws.send(json.dumps({"type": "end"}))

    async def both():
        simul, opus = await run_session(
            server, session, lambda: asyncio.wait_for(speak_talk(), TIMEOUT_S), "opus")
        check_simultaneous(simul)
        pcm_chunks, pcm_seconds = check_audio_framing(simul, "pcm16")
        opus_chunks, opus_seconds = check_audio_framing(opus, "opus")
        check(pcm_chunks == opus_chunks,
              "Opus listeners get the same chunks: %s, %s" % (pcm_chunks, opus_chunks))
        check_same_audio(pcm_seconds, opus_seconds)
        status, plain = create(server, "sentence")
        check(status == 201, "a sentence session")
        sentence = await run_session(server, plain, lambda: speak_raw(server, plain))
        check_sentence(sentence)
        check_audio_framing(sentence, "pcm16")

    asyncio.run(both())


if __name__ == "__main__":
    run_with_server("simultaneous", test)
