"""Bad input through the gateway role: the same clear errors as the
all-in-one server (test_bad_input's and test_http_framing's checks), from a
gateway that shares a real redis-server with a worker process."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import test_bad_input  # noqa: E402
import test_http_framing  # noqa: E402
from cluster import Cluster  # noqa: E402


def main():
    with Cluster(sys.argv[1]) as cluster:
        cluster.node("worker")
        gateway = cluster.node("gateway")
        cluster.wait_for_catalog(gateway)
        test_bad_input.test(gateway)
        test_http_framing.framing(gateway)
        test_http_framing.bodies(gateway)
    print("gateway_bad_input: all passed")


if __name__ == "__main__":
    main()
