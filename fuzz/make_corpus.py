#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (except opus/, which
holds packets libopus encoded from the same recording). Seeds are small
real inputs: speech from Debian's pocketsphinx-testdata, the gateway's
real requests, logs laid out as the file:// stream writes them.

Usage: fuzz/make_corpus.py [speech.raw]   (16 kHz PCM16 mono)
"""
import json
import os
import struct
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SPEECH = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/pocketsphinx/test/data/goforward.raw"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


with open(SPEECH, "rb") as f:
    f.seek(2 * 12000)  # into the first word
    speech = f.read(2 * 200)
samples = struct.unpack("<200h", speech)


# ---- WAV ----
def chunk(cid, body):
    pad = b"\0" if len(body) % 2 else b""
    return cid + struct.pack("<I", len(body)) + body + pad


def wav(fmt_body, data, extra=b"", data_size=None):
    d = chunk(b"data", data)
    if data_size is not None:
        d = b"data" + struct.pack("<I", data_size) + data
    body = b"WAVE" + chunk(b"fmt ", fmt_body) + extra + d
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag, ch, rate, bits):
    align = ch * bits // 8
    return struct.pack("<HHIIHH", tag, ch, rate, rate * align, align, bits)


pcm16 = speech[:160]
put("wav", "pcm16_mono_16k.wav", wav(fmt(1, 1, 16000, 16), pcm16))
put("wav", "pcm8_mono_8k.wav", wav(fmt(1, 1, 8000, 8), bytes((s >> 8) + 128 for s in samples[:60])))
put("wav", "pcm24_stereo_44k.wav",
    wav(fmt(1, 2, 44100, 24), b"".join(struct.pack("<i", s << 8)[:3] * 2 for s in samples[:30])))
put("wav", "pcm32_mono_48k.wav", wav(fmt(1, 1, 48000, 32), b"".join(struct.pack("<i", s << 16) for s in samples[:40])))
put("wav", "float32_mono_22k.wav", wav(fmt(3, 1, 22050, 32), b"".join(struct.pack("<f", s / 32768) for s in samples[:40])))
put("wav", "float64_mono_16k.wav", wav(fmt(3, 1, 16000, 64), b"".join(struct.pack("<d", s / 32768) for s in samples[:20])))
ext = fmt(0xFFFE, 2, 48000, 16) + struct.pack("<HHI", 22, 16, 3) + struct.pack("<H", 1) + bytes(
    [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
put("wav", "extensible_stereo_48k.wav", wav(ext, b"".join(struct.pack("<hh", s, -s) for s in samples[:40])))
put("wav", "list_chunk_before_data.wav", wav(fmt(1, 1, 16000, 16), pcm16[:80], extra=chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00")))
put("wav", "streamed_size_max.wav", wav(fmt(1, 1, 16000, 16), pcm16[:80], data_size=0xFFFFFFFF))
put("wav", "streamed_size_zero.wav", wav(fmt(1, 1, 16000, 16), pcm16[:80], data_size=0)[:-2])
put("wav", "empty_data.wav", wav(fmt(1, 1, 16000, 16), b""))

for name in os.listdir(os.path.join(ROOT, "wav")):
    with open(os.path.join(ROOT, "wav", name), "rb") as f:
        w = f.read()
    if name in ("pcm16_mono_16k.wav", "extensible_stereo_48k.wav", "streamed_size_max.wav"):
        put("audio_file", "wav_" + name, b"\x02" + w)
put("audio_file", "raw_speech", b"\x00" + speech[:200])
put("audio_file", "pcm_speech", b"\x01" + speech[200:320])
put("audio_file", "noext_wav", b"\x03" + wav(fmt(1, 1, 8000, 16), pcm16[:40]))

# ---- client URLs, Redis URLs ----
for i, u in enumerate(["ws://127.0.0.1:8080/ws/speak/abcd234567?token=00ff",
                       "http://localhost:8080", "http://[::1]:9000/", "ws://example.org/ws/listen/x?lang=es&codec=opus",
                       "wss://secure.example.org/", "http://host:65535?x=1"]):
    put("client_url", "url%d" % i, u)
for i, u in enumerate(["redis://127.0.0.1:6379", "redis://:secret@localhost:6380/2", "redis://user:pw@redis.internal/15",
                       "redis://[::1]:6379/", "redis://host"]):
    put("redis_url", "url%d" % i, u)


# ---- delivery wire ----
def wire(flags, codec, session, lang, payload):
    return bytes([1, flags, codec, len(session), len(lang)]) + session + lang + struct.pack(">I", len(payload)) + payload


caption = json.dumps({"type": "caption", "lang": "es", "utterance": 3, "final": True,
                      "text": "avanza diez metros", "start_ms": 1200, "end_ms": 2900}).encode()
put("delivery_wire", "caption", wire(0, 0, b"k3m9x2p4qa", b"es", caption))
put("delivery_wire", "audio_pcm16", wire(1, 1, b"k3m9x2p4qa", b"es", speech[:64]))
with open(os.path.join(ROOT, "opus", "speech_10ms_voip_low"), "rb") as f:
    op = f.read()
put("delivery_wire", "audio_opus", wire(1, 2, b"k3m9x2p4qa", b"fr", op[1:1 + op[0]]))
put("delivery_wire", "to_speaker_all_langs", wire(2, 0, b"k3m9x2p4qa", b"", b'{"type":"listeners","counts":{"es":2}}'))
put("delivery_wire", "session_end_closes", wire(4, 0, b"k3m9x2p4qa", b"", b'{"type":"ended"}'))

# ---- glossary (first byte: 0 the API's JSON, 1 the text form) ----
glossary = [{"term": "prudently"}, {"term": "Dashwood", "keep": True},
            {"term": "Holy Spirit", "translations": {"es": "Esp\u00edritu Santo", "ca": "Esperit Sant"}},
            {"term": "Kubernetes", "sounds_like": "coo burr net ease"}]
put("glossary", "api", b"\0" + json.dumps(glossary).encode())
put("glossary", "text", b"\1# terms\nprudently\nDashwood\tkeep\n"
    b"Holy Spirit\tes=Esp\xc3\xadritu Santo\tca=Esperit Sant\n"
    b"Kubernetes\tsounds_like=coo burr net ease\n")
put("glossary", "empty_term", b'\0[{"term":""}]')

# ---- catalog ----
catalog = {"source": [{"code": "en", "name": "English"}], "targets": [
    {"code": "es", "name": "Spanish", "voice": True, "voice_name": "es", "stand_in": False, "pivot": None},
    {"code": "gl", "name": "Galician", "voice": True, "voice_name": "pt", "stand_in": True, "pivot": None},
    {"code": "pt_BR", "name": "Brazilian Portuguese", "voice": True, "voice_name": "pt-br", "stand_in": False, "pivot": "es"},
    {"code": "oc_aran", "name": "Aranese", "voice": False, "stand_in": False, "pivot": "es"}], "sample_rate": 22050}
put("catalog", "full", json.dumps(catalog))
put("catalog", "compact_one", '{"source":[],"targets":[{"code":"eo","name":"Esperanto","voice":true,"voice_name":"eo"}],"sample_rate":22050}')
put("catalog", "no_targets", '{"targets":[],"sample_rate":0}')
put("catalog", "spelled_codes", '{"targets":[{"code":"spa","name":"Spanish"},{"code":"pt-br","name":"Portuguese"}],"sample_rate":16000}')

# ---- stream file format ----
LOG_MAGIC, CKPT_MAGIC = 0x474C4342, 0x4B434342


def record(seq, kind, ms, data):
    head = struct.pack("<IQIqI", LOG_MAGIC, seq, kind, ms, len(data))
    return head + struct.pack("<I", zlib.crc32(head + data)) + data


def ckpt(seq, state=b""):
    b = struct.pack("<IQI", CKPT_MAGIC, seq, len(state)) + state
    return b + struct.pack("<I", zlib.crc32(b))


put("checkpoint", "seq7_state", b"\x00" + ckpt(7, b'{"utterance":2,"samples":48000}'))
put("checkpoint", "seq1_empty", b"\x00" + ckpt(1))
put("checkpoint", "crc_fixed_by_target", b"\x01" + ckpt(3, b"xyz")[:-4] + b"\0\0\0\0")
put("checkpoint", "truncated", b"\x00" + ckpt(9, b"state")[:-3])

t0 = 1764650000000
log = (record(1, 1, t0, speech[:64]) + record(2, 1, t0 + 250, speech[64:128]) + record(3, 2, t0 + 260, b"")
       + record(4, 1, t0 + 500, speech[128:160]) + record(5, 3, t0 + 600, b""))
put("stream_log", "five_records", b"\x00\x00" + log)
put("stream_log", "checkpoint_at_2", b"\x02\x02" + log)
put("stream_log", "ended", b"\x06\x05" + log)
put("stream_log", "torn_tail", b"\x00\x00" + log[:-20])
r2 = record(2, 1, t0 + 250, speech[64:128])
damaged = record(1, 1, t0, speech[:64]) + r2[:40] + b"\xff" + r2[41:] + record(3, 2, t0 + 260, b"")
put("stream_log", "damaged_middle", b"\x00\x00" + damaged)
base = record(0, 0, 0, struct.pack("<Q", 128000))
put("stream_log", "compacted_base", b"\x02\x06" + base + record(7, 1, t0, speech[:32]) + record(8, 2, t0 + 10, b""))
put("stream_log", "crc_fixed_by_target", b"\x01\x00" + record(1, 1, t0, speech[:16])[:28] + b"\0\0\0\0" + speech[:16])

# ---- gateway HTTP ----
def http(method, target, headers=(), body=b""):
    if isinstance(body, str):
        body = body.encode()
    h = list(headers)
    if body:
        h.append("Content-Length: %d" % len(body))
    return ("%s %s\n" % (method, target) + "".join(x + "\n" for x in h) + "\n").encode() + body


put("gateway_http", "post_session", http("POST", "/api/sessions", body='{"source":"en","targets":["es","fr"]}'))
put("gateway_http", "post_session_spelled", http("POST", "/api/sessions/", body='{"targets":["spa","PT-br"]}\r\n'))
put("gateway_http", "post_session_unknown", http("POST", "/api/sessions", body='{"targets":["de"]}'))
put("gateway_http", "post_session_nul_escape", http("POST", "/api/sessions", body='{"targets":["es\\u0000x"]}'))
put("gateway_http", "post_chunked", http("POST", "/api/sessions", ["Transfer-Encoding: chunked"]))
put("gateway_http", "get_session", http("GET", "/api/sessions/{id}"))
put("gateway_http", "get_transcript", http("GET", "/api/sessions/{id}/transcript?lang=es&format=vtt"))
put("gateway_http", "get_qr", http("GET", "/api/sessions/{id}/qr.svg"))
put("gateway_http", "delete_session", http("DELETE", "/api/sessions/{id}", ["Authorization: Bearer {token}"]))
put("gateway_http", "delete_wrong_token", http("DELETE", "/api/sessions/{id}", ["Authorization: Bearer 00"]))
put("gateway_http", "get_languages", http("GET", "/api/languages"))
put("gateway_http", "healthz", http("GET", "/healthz"))
put("gateway_http", "listen_page", http("GET", "/listen/{id}"))
put("gateway_http", "static_dotdot", http("GET", "/../etc/passwd"))
put("gateway_http", "put_body", http("PUT", "/api/sessions/{id}", body="{}"))


# ---- gateway WebSocket ----
def frames(*fs):
    out = b""
    for flags, data in fs:
        if isinstance(data, str):
            data = data.encode()
        out += bytes([flags, len(data)]) + data
    return out


WHOLE_TEXT, WHOLE_BIN = 6, 7
end = '{"type":"end"}'
put("gateway_ws", "speaker_audio_end", b"/ws/speak/{id}?token={token}\n" + frames((WHOLE_BIN, speech[:200]), (WHOLE_TEXT, end)))
put("gateway_ws", "speaker_fragmented_end", b"/ws/speak/{id}?token={token}\n" + frames((2, '{"type":'), (4, '"end"}')))
put("gateway_ws", "speaker_unknown_type", b"/ws/speak/{id}?token={token}\n" + frames((WHOLE_TEXT, '{"type":"pause"}')))
put("gateway_ws", "speaker_odd_audio", b"/ws/speak/{id}?token={token}\n" + frames((WHOLE_BIN, speech[:3])))
put("gateway_ws", "speaker_bad_token", b"/ws/speak/{id}?token=0123\n" + frames((WHOLE_TEXT, end)))
put("gateway_ws", "listener_opus", b"/ws/listen/{id}?lang=es&codec=opus\n" + frames((WHOLE_TEXT, "hi")))
put("gateway_ws", "listener_sends_audio", b"/ws/listen/{id}?lang=pt-br\n" + frames((WHOLE_BIN, speech[:8])))
put("gateway_ws", "listener_source_lang", b"/ws/listen/{id}\n")
put("gateway_ws", "unknown_path", b"/ws/other/{id}\n" + frames((WHOLE_TEXT, end)))


# ---- Kinesis answers (shapes as kinesalite answers them) ----
# First byte: the parser (0 error, 1 ListShards, 2 GetShardIterator,
# 3 PutRecord, 4 GetRecords, 5 sequence number comparison); an error's next
# two bytes are its HTTP status less 201.
def kinesis(kind, body, status=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body, separators=(",", ":"))
    if isinstance(body, str):
        body = body.encode()
    head = bytes([kind])
    if status is not None:
        head += struct.pack(">H", status - 201)
    return head + body


SEQ = ["49680770142408496753413833928446023143907810928303800338",
       "49680770142408496753413833928447232069727425557478506514",
       "49680770142408496753413833928448440995547040186653212690"]
ITERATOR = ("AAAAAAAAAAFnQE5Okp1SVC5hBPi5Hgm4PgprPwUQFsaylajnRR8Ne5DIN6kBD/H9QIsLdloPXDGWBrLSza5E4NJpi6dH5wEg"
            "6vvzh3x4c1r4eiIh/RQfC5HDVr4Dj9V3qOvWhiOZiOYkduS1OFs8xPV+5yapcIQfk0F7ZG8Ge9b7tr59ofe2NE9uok2TRwUWOCoE"
            "y3Lbdek=")


def shard(n, start, parent=None, adjacent=None, end=None):
    s = {"HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "170141183460469231731687303715884105727"},
         "SequenceNumberRange": {"StartingSequenceNumber": start}, "ShardId": "shardId-%012d" % n}
    if end:
        s["SequenceNumberRange"]["EndingSequenceNumber"] = end
    if parent:
        s["ParentShardId"] = parent
    if adjacent:
        s["AdjacentParentShardId"] = adjacent
    return s


put("kinesis_answer", "list_shards", kinesis(1, {"Shards": [shard(0, SEQ[0]), shard(1, SEQ[1])]}))
put("kinesis_answer", "list_shards_split", kinesis(1, {"Shards": [
    shard(0, SEQ[0], end=SEQ[2]), shard(1, SEQ[1]),
    shard(2, SEQ[2], parent="shardId-000000000000"), shard(3, SEQ[2], parent="shardId-000000000000")]}))
put("kinesis_answer", "list_shards_merged", kinesis(1, {"Shards": [
    shard(4, SEQ[2], parent="shardId-000000000002", adjacent="shardId-000000000003")], "NextToken": ITERATOR}))
put("kinesis_answer", "list_shards_bad_ids", kinesis(1, {"Shards": [
    {"ShardId": "shard 0\nP x 1 0"}, {"ShardId": ""}, {"ShardId": "s" * 140}, {"ShardId": 7},
    shard(5, SEQ[0], parent="../x")]}))
put("kinesis_answer", "iterator", kinesis(2, {"ShardIterator": ITERATOR}))
put("kinesis_answer", "iterator_empty", kinesis(2, {"ShardIterator": ""}))
put("kinesis_answer", "put_record", kinesis(3, {"ShardId": "shardId-000000000001", "SequenceNumber": SEQ[0]}))
put("kinesis_answer", "put_record_not_digits", kinesis(3, {"ShardId": "shardId-000000000001", "SequenceNumber": "0x12"}))
put("kinesis_answer", "put_record_leading_zero", kinesis(3, {"SequenceNumber": "0049"}))
header = bytes([1, 1, 0, 0, 0, 0, 0x65, 0x4B, 0x12, 0x34])


def record(seq, data, key="abcd234567", b64=None):
    import base64
    return {"PartitionKey": key, "Data": b64 if b64 is not None else base64.b64encode(data).decode(),
            "ApproximateArrivalTimestamp": 1796220345.533, "SequenceNumber": seq}


put("kinesis_answer", "get_records", kinesis(4, {"MillisBehindLatest": 0, "NextShardIterator": ITERATOR, "Records": [
    record(SEQ[0], header + b"hello 0"), record(SEQ[1], header + b"hello 1"), record(SEQ[2], header + speech[:20])]}))
put("kinesis_answer", "get_records_empty", kinesis(4, {"MillisBehindLatest": 0, "NextShardIterator": ITERATOR, "Records": []}))
put("kinesis_answer", "get_records_closed", kinesis(4, {"MillisBehindLatest": 0, "NextShardIterator": None, "Records": [
    record(SEQ[0], b"someone else's", key="not a session id")]}))
put("kinesis_answer", "get_records_bad_base64", kinesis(4, {"NextShardIterator": ITERATOR, "Records": [
    record(SEQ[0], None, b64="AQEA AAA="), record(SEQ[1], None, b64="A==="), record(SEQ[2], None, b64="AQ=A")]}))
put("kinesis_answer", "get_records_out_of_order", kinesis(4, {"NextShardIterator": ITERATOR, "Records": [
    record(SEQ[1], header), record(SEQ[0], header)]}))
put("kinesis_answer", "error_not_found", kinesis(0, {"__type": "ResourceNotFoundException",
                                                     "message": "Stream nope under account 000000000000 not found."}, 400))
put("kinesis_answer", "error_throttled", kinesis(0, {"__type": "ProvisionedThroughputExceededException",
                                                     "message": "Rate exceeded for shard shardId-000000000000 in stream fz under account 000000000000."}, 400))
put("kinesis_answer", "error_limit", kinesis(0, {"__type": "com.amazonaws.kinesis#LimitExceededException", "message": "x"}, 400))
put("kinesis_answer", "error_expired", kinesis(0, {"__type": "ExpiredIteratorException", "message": "Iterator expired."}, 400))
put("kinesis_answer", "error_invalid", kinesis(0, {"__type": "InvalidArgumentException", "message": "Invalid ShardIterator."}, 400))
put("kinesis_answer", "error_auth", kinesis(0, {"__type": "UnrecognizedClientException"}, 403))
put("kinesis_answer", "error_503_html", kinesis(0, "<html><body>Service Unavailable</body></html>", 503))
put("kinesis_answer", "error_429_empty", kinesis(0, "", 429))
put("kinesis_answer", "cmp_numbers", kinesis(5, SEQ[1] + "\0" + SEQ[0] + "\0" + "9"))
put("kinesis_answer", "cmp_zeros", kinesis(5, "0\0" + "007\0" + "70"))

# ---- the kinesis:// local journal, as the store writes it ----
HEX_STATE = speech[:24].hex()
journal = ("P shardId-000000000000 - 0\n"
           "P shardId-000000000001 %s 0\n"
           "N shardId-000000000001 abcd234567 3\n"
           "C abcd234567 3 %s\n"
           "B abcd234567 128000\n"
           "F abcd234567 2\n"
           "D abcd234567 2 1796220345533 %s\n"
           "C efgh234567 0 -\n"
           "P shardId-000000000002 %s 1\n" % (SEQ[2], HEX_STATE, b"engine failed".hex(), SEQ[1]))
put("kinesis_journal", "compacted", journal)
put("kinesis_journal", "cut_short", journal + "C abcd234567 4 " + HEX_STATE[:10])
put("kinesis_journal", "torn_then_more", journal[:40] + journal[60:])
put("kinesis_journal", "damaged_values", "P shardId-000000000000 0x1f 2\nC abcd234567 x1 zz\nB abcd234567 -1\n"
                                         "F abcd234567 99999999999999999999999\nN bad/shard abcd234567 1\n"
                                         "C abcd234567 5 " + "ab" * 300 + "\nPX a b c\nD abcd234567 1 -5 abc\n")
put("kinesis_journal", "nul_in_line", "B abcd234567 12\0\nF abcd234567 3\n")
put("kinesis_journal", "empty", "")

# ---- AWS URLs (first byte: 0 s3://, 1 kinesis://) and credentials files ----
for i, u in enumerate([b"\x00bucket/some/prefix?region=eu-west-1",
                       b"\x00b?endpoint=http%3A%2F%2F127.0.0.1%3A4569%2F&region=us-east-2",
                       b"\x00b?region=us-east-1&endpoint=https://s3.example.org",
                       b"\x00b?region=us-east-1&endpoint=http://user@host/",
                       b"\x00b?region=US_EAST&endpoint=ftp://h",
                       b"\x00b?region=us-east-1&region=us-east-1",
                       b"\x01audio?endpoint=http://127.0.0.1:4567",
                       b"\x01s?region=us-east-1&limit=100&start=latest&lease_ms=3000+now&max_shards=2",
                       b"\x01s?region=us-east-1&limit=%00",
                       b"\x01s?region=us-east-1&poll_ms=%4",
                       b"\x01s#frag?region=us-east-1",
                       b"\x01s?&&region=eu-west-1&&"]):
    put("aws_url", "url_%02d" % i, u)

CREDENTIALS = ("# shared credentials\n[default]\naws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key=secretdefault\n\n[ ci ]\n  aws_access_key_id\t=  AKIDCI  \n"
               "; another comment\naws_secret_access_key = secret/ci+x=\naws_session_token = tokenci\n"
               "region = eu-west-1\n[partial]\naws_access_key_id = ONLYID\n")
put("aws_credentials", "default", "default\n" + CREDENTIALS)
put("aws_credentials", "ci", "ci\n" + CREDENTIALS)
put("aws_credentials", "partial", "partial\n" + CREDENTIALS)
put("aws_credentials", "crlf", "default\r\n[default]\r\naws_access_key_id=A\r\naws_secret_access_key=S\r\n")
put("aws_credentials", "cr_in_token", "default\n[default]\naws_access_key_id=A\naws_secret_access_key=S\n"
                                      "aws_session_token=t\rX-Injected: 1\n")
put("aws_credentials", "long_secret", "default\n[default]\naws_access_key_id=A\naws_secret_access_key=" + "x" * 130 + "\n")

# ---- archive spool keys and ready/ file names ----
for i, k in enumerate(["abc/en/000001.wav", "s/transcript.pt_BR.vtt", "abc+en+000001.wav", "a//b", "../a",
                       "a/.hidden", "a b", "a+b", "+lead", "trail/", "x" * 600, "\u00e9"]):
    put("spool_key", "key_%02d" % i, k)
