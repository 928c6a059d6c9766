#!/usr/bin/env python3
"""babelcast on the AWS services' emulators, side by side with the embedded
backends, in one run on one machine:

1. The ingestion stream alone (bench_stream): appends per second and the
   time one append takes, on mem://, file://, redis:// and kinesis://.
2. Live sessions (bench_live): SESSIONS sessions speak the librivox talk to
   a server with the default file:// stream, then to one with
   --stream kinesis:// (2 shards) and --archive s3://.
3. Cost per speaker-hour on AWS at list prices, from what the kinesis run
   put in the stream (records and bytes, read back from the emulator) and
   in the bucket (objects and bytes).

    bench/aws.py [--sessions 2] [--records 2000] [--build build]

kinesalite and s3rver (tests/aws, Node.js) are emulators: their own cost
is in every kinesis:// and s3:// figure, so compare those with AWS's only
in shape. Needs redis-server, Node.js and `cmake --build build --target
benchmarks`."""
import argparse
import base64
import contextlib
import math
import os
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from harness import RedisServer, Server  # noqa: E402
from kinesalite import Kinesalite  # noqa: E402
from s3rver import ACCESS_KEY, S3_NS, SECRET_KEY, S3rver  # noqa: E402

BUCKET = "bench-archive"
LIVE_STREAM = "bench-live"
APPEND_STREAM = "bench-append"
LIVE_SHARDS = 2
LANGUAGES = "es"
ARCHIVE_WAIT_S = 120
TALK_SECONDS = 29.7  # the librivox talk bench_live speaks (five clips, 1 s apart)
SECONDS_PER_HOUR = 3600.0
GIB = 1024.0 ** 3
KIB = 1024

# us-east-1 list prices (USD) in the AWS price list, December 2026.
KINESIS_ON_DEMAND_STREAM_HOUR = 0.04
KINESIS_ON_DEMAND_IN_PER_GB = 0.08   # each record's data + partition key, rounded up to 1 KiB
KINESIS_ON_DEMAND_OUT_PER_GB = 0.04
KINESIS_SHARD_HOUR = 0.015           # provisioned mode
KINESIS_PUT_UNITS_PER_MILLION = 0.014
KINESIS_PUT_UNIT_BYTES = 25 * KIB
S3_PUT_PER_THOUSAND = 0.005
S3_GB_MONTH = 0.023
REPLACED_DESIGN = "0.06-0.09"  # its streaming and storage per speaker-hour, as it reports


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(out.stdout, flush=True)
    if out.returncode != 0:
        sys.exit("%s exited with %d" % (cmd[0], out.returncode))
    return out.stdout


def live(build, server, sessions):
    return run([os.path.join(build, "bench", "bench_live"), "--server", server.url,
                "--sessions", str(sessions), "--languages", LANGUAGES,
                "--server-pid", str(server.proc.pid)])


def stream_records(kinesis, stream):
    """Every record in the stream: (data bytes, partition key bytes)."""
    shards = kinesis.call("ListShards", {"StreamName": stream})["Shards"]
    records = []
    for shard in shards:
        it = kinesis.call("GetShardIterator", {"StreamName": stream, "ShardId": shard["ShardId"],
                                               "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        while it:
            page = kinesis.call("GetRecords", {"ShardIterator": it, "Limit": 10000})
            for r in page["Records"]:
                records.append((len(base64.b64decode(r["Data"])), len(r["PartitionKey"].encode())))
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    return records


def bucket_objects(s3):
    """(key, size) of every object in the bucket."""
    objects, token = [], None
    while True:
        url = "%s/%s?list-type=2&max-keys=1000" % (s3.endpoint, BUCKET)
        if token:
            url += "&continuation-token=" + urllib.request.quote(token)
        with urllib.request.urlopen(url, timeout=30) as resp:
            root = ET.fromstring(resp.read())
        for c in root.findall(S3_NS + "Contents"):
            objects.append((c.find(S3_NS + "Key").text, int(c.find(S3_NS + "Size").text)))
        token = root.findtext(S3_NS + "NextContinuationToken")
        if not token:
            return objects


def wait_archived(server):
    for _ in range(ARCHIVE_WAIT_S * 10):
        if server.metric("babelcast_archive_pending_objects ") == 0:
            return
        subprocess.run(["sleep", "0.1"])
    sys.exit("the archive still has objects to upload after %d s" % ARCHIVE_WAIT_S)


def cost(records, objects, sessions, speaker_hours):
    """Per speaker-hour of a one-hour talk: what grows with the talk is
    scaled from the measured speaker-hours; the transcripts, written once
    per session, are counted once."""
    n = len(records)
    billed_in = sum(math.ceil((d + k) / KIB) * KIB for d, k in records)
    raw = sum(d + k for d, k in records)
    put_units = sum(math.ceil((d + k) / KINESIS_PUT_UNIT_BYTES) for d, k in records)
    stored = sum(size for _, size in objects)
    per_hour = lambda x: x / speaker_hours  # noqa: E731
    kin_in = per_hour(billed_in) / GIB * KINESIS_ON_DEMAND_IN_PER_GB
    kin_out = per_hour(raw) / GIB * KINESIS_ON_DEMAND_OUT_PER_GB
    kin_put_units = per_hour(put_units) / 1e6 * KINESIS_PUT_UNITS_PER_MILLION
    per_session = sum(1 for key, _ in objects if "/transcript." in key)
    s3_put_count = per_hour(len(objects) - per_session) + per_session / sessions
    s3_puts = s3_put_count / 1000 * S3_PUT_PER_THOUSAND
    s3_month = per_hour(stored) / GIB * S3_GB_MONTH
    print("measured: %.4f speaker-hours; stream: %d records, %.0f bytes per record on average "
          "(%.1f MB raw, %.1f MB billed at 1 KiB per record); bucket: %d objects, %.1f MB"
          % (speaker_hours, n, raw / max(n, 1), raw / 1e6, billed_in / 1e6, len(objects),
             stored / 1e6))
    print("per speaker-hour: %.0f records, %.0f PUT payload units, %.0f S3 PUTs, %.1f MB stored"
          % (per_hour(n), per_hour(put_units), s3_put_count, per_hour(stored) / 1e6))
    print("%-58s %10s" % ("cost per speaker-hour (us-east-1 list prices)", "USD"))
    rows = [
        ("Kinesis on-demand: data in", kin_in),
        ("Kinesis on-demand: data out (read once)", kin_out),
        ("S3: PUT requests", s3_puts),
        ("S3: storage, per month kept", s3_month),
    ]
    for name, value in rows:
        print("%-58s %10.4f" % (name, value))
    total = kin_in + kin_out + s3_puts
    print("%-58s %10.4f" % ("total (on-demand, without storage and stream-hours)", total))
    print("%-58s %10.4f" % ("Kinesis on-demand stream-hour, shared by every speaker",
                            KINESIS_ON_DEMAND_STREAM_HOUR))
    print("%-58s %10.4f" % ("  ... per speaker-hour with 10 speakers at a time",
                            KINESIS_ON_DEMAND_STREAM_HOUR / 10))
    print("%-58s %10.4f" % ("Kinesis provisioned instead: PUT payload units", kin_put_units))
    print("%-58s %10.4f" % ("  ... plus a shard-hour (1 MB/s: ~30 speakers)", KINESIS_SHARD_HOUR))
    print("replaced design, as it reports: %s per speaker-hour" % REPLACED_DESIGN)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    binary = os.path.join(args.build, "babelcast")
    os.environ["AWS_ACCESS_KEY_ID"] = ACCESS_KEY  # s3rver checks it; kinesalite takes any
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
    os.environ.pop("AWS_SESSION_TOKEN", None)

    with contextlib.ExitStack() as services:
        redis = services.enter_context(RedisServer().start())
        kinesis = Kinesalite().start()
        services.callback(kinesis.cleanup)
        s3 = services.enter_context(S3rver(BUCKET).start())
        kinesis.create_stream(APPEND_STREAM, 1)
        kinesis.create_stream(LIVE_STREAM, LIVE_SHARDS)
        print("== 1. the ingestion stream alone", flush=True)
        run([os.path.join(args.build, "bench", "bench_stream"), str(args.records), redis.url,
             kinesis.url(APPEND_STREAM, "&poll_ms=20")])

        print("== 2a. live sessions, file:// stream, local archive", flush=True)
        with Server(binary).start() as server:
            live(args.build, server, args.sessions)
        print("== 2b. live sessions, kinesis:// stream (%d shards), s3:// archive" % LIVE_SHARDS,
              flush=True)
        archive = "s3://%s/talks?region=us-east-1&endpoint=%s" % (BUCKET, s3.endpoint)
        with Server(binary, extra=["--stream", kinesis.url(LIVE_STREAM),
                                   "--archive", archive]).start() as server:
            live(args.build, server, args.sessions)
            wait_archived(server)

        print("== 3. cost, from what the kinesis:// run stored", flush=True)
        cost(stream_records(kinesis, LIVE_STREAM), bucket_objects(s3), args.sessions,
             args.sessions * TALK_SECONDS / SECONDS_PER_HOUR)


if __name__ == "__main__":
    main()
