"""A Kinesis emulator for the kinesis:// stream's tests: kinesalite (npm,
tests/aws) with its in-memory store on a free loopback port, started by
tests/aws/kinesalite.js. Exits the test with 77 (skipped) when Node.js or
npm is missing."""
import hashlib
import json
import os
import subprocess
import time
import urllib.request

from s3rver import EMULATORS_DIR, ensure_installed

START_TIMEOUT_S = 60
# kinesalite wants these headers to look right; it checks no signature.
FAKE_AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/kinesis/aws4_request, "
             "SignedHeaders=host;x-amz-date, Signature=0")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret"}


class Kinesalite:
    def __init__(self):
        ensure_installed()  # installs every emulator of tests/aws
        self.proc = None
        self.endpoint = None

    def start(self):
        self.proc = subprocess.Popen(["node", os.path.join(EMULATORS_DIR, "kinesalite.js"), "0"],
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError("kinesalite did not start")
        self.endpoint = "http://127.0.0.1:%d" % int(line)
        return self

    def call(self, operation, body):
        req = urllib.request.Request(self.endpoint + "/", data=json.dumps(body).encode(), headers={
            "X-Amz-Target": "Kinesis_20131202." + operation,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "Authorization": FAKE_AUTH})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def create_stream(self, name, shards):
        self.call("CreateStream", {"StreamName": name, "ShardCount": shards})

    def url(self, name, options=""):
        return "kinesis://%s?region=us-east-1&endpoint=%s%s" % (name, self.endpoint, options)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.proc = None


def shard_of(key, shards=2):
    """The shard of an evenly split stream that Kinesis puts key in."""
    return int(hashlib.md5(key.encode()).hexdigest(), 16) * shards >> 128
