"""An S3 emulator for the archive's tests: s3rver (npm, tests/aws) on a free
loopback port with its objects in a temporary directory. kill() is kill -9;
start() again restarts it on the same port and directory, objects intact.
Exits the test with 77 (skipped) when Node.js or npm is missing."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from harness import Service

SOURCE_DIR = os.environ.get("BC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EMULATORS_DIR = os.path.join(SOURCE_DIR, "tests", "aws")
START_TIMEOUT_S = 60
S3_NS = "{http://doc.s3.amazonaws.com/2006-03-01/}"
# s3rver knows one access key; it checks signatures made with that secret.
ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(77)


def ensure_installed():
    binary = os.path.join(EMULATORS_DIR, "node_modules", ".bin", "s3rver")
    if os.path.exists(binary):
        return binary
    if not shutil.which("node") or not shutil.which("npm"):
        skip("Node.js and npm are needed for s3rver (scripts/install-deps.sh)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=EMULATORS_DIR, check=True)
    return binary


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class S3rver(Service):
    def __init__(self, bucket):
        self.binary = ensure_installed()
        self.bucket = bucket
        self.tmp = tempfile.mkdtemp(prefix="babelcast-s3rver-")
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log_path = os.path.join(self.tmp, "s3rver.log")

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-d", os.path.join(self.tmp, "data"), "-a", "127.0.0.1",
             "-p", str(self.port), "--configure-bucket", self.bucket],
            stdout=log, stderr=log)
        log.close()
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("s3rver exited with %d" % self.proc.returncode)
            try:
                self.keys()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("s3rver did not start on port %d" % self.port)

    def keys(self, prefix=""):
        """Every key under prefix (the bucket is small: one page)."""
        url = "%s/%s?list-type=2&max-keys=1000&prefix=%s" % (self.endpoint, self.bucket, prefix)
        with urllib.request.urlopen(url, timeout=10) as resp:
            root = ET.fromstring(resp.read())
        return sorted(c.find(S3_NS + "Key").text for c in root.findall(S3_NS + "Contents"))

    def get(self, key):
        url = "%s/%s/%s" % (self.endpoint, self.bucket, urllib.request.quote(key))
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.read(), resp.headers.get("Content-Type", "")

    def stores(self, key):
        """How many times s3rver stored key (it logs each object it stores)."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        needle = 'Stored object "%s" in bucket "%s"' % (key, self.bucket)
        return text.count(needle)
