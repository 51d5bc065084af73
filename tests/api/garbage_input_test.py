"""Hostile bytes on the wire: random garbage, garbage inside a well-formed frame, an
oversized frame, a truncated frame (closed early, and left hanging), a message whose list
length claims more than its frame holds, and more bad connections at once than the
server has workers. After each, the server must have closed that connection and must go
on serving a well-behaved client whose connection was open all along, and new ones."""

import random
import socket
import struct
import time

from service_harness import Connection, Deadline, ServerProcess, check, parse_args

from quiver_rpc.ttypes import Metric, Record, SearchRequest

THREADS = 4
MAX_FRAME = 65536
IDLE_TIMEOUT_MS = 2500
SEED = 7


def closed_by_server(sock, timeout, keepalive=None):
    """True when the server closes the connection (EOF or reset) within `timeout`. Any
    bytes it sends first (an exception reply) are read and ignored. `keepalive` is
    called between short waits, so that another connection does not go idle for long."""
    deadline = Deadline(timeout)
    while deadline.left() > 0:
        sock.settimeout(min(0.25, max(deadline.left(), 0.01)))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            if keepalive:
                keepalive()
    return False


def raw_connection(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def binary_string(text):
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def forged_upsert():
    """A well-formed call to upsert whose record list claims 2^30 elements."""
    message = struct.pack(">I", 0x80010001)  # strict binary protocol, version 1, CALL
    message += binary_string("upsert") + struct.pack(">i", 1)
    message += struct.pack(">bh", 11, 1) + binary_string("c")  # field 1: string collection
    message += struct.pack(">bh", 15, 2) + struct.pack(">bi", 12, 1 << 30)  # field 2: list<struct>
    return frame(message)


def main():
    args = parse_args(__doc__)
    rng = random.Random(SEED)
    server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server.log",
                           ["--threads", str(THREADS), "--max-frame-bytes", str(MAX_FRAME),
                            "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)])
    try:
        with Connection(server.port) as steady:
            steady.create_collection("g", "hnsw8,f32", Metric.L2, 4)
            steady.upsert("g", [Record(id=i, vector=[float(i), 0.0, 1.0, 2.0], attributes={}) for i in range(50)])

            def still_serving(what):
                hits = steady.search("g", SearchRequest(vector=[7.0, 0.0, 1.0, 2.0], k=1))
                check(hits and hits[0].id == 7, "after %s the open connection got %r" % (what, hits))
                with Connection(server.port, timeout_ms=5000) as fresh:
                    check(fresh.health().serving, "after %s a new connection is not served" % what)
                check(server.alive(), "server died after %s" % what)

            cases = [
                ("random garbage", bytes(rng.getrandbits(8) for _ in range(1000)), True),
                ("garbage inside a frame", frame(bytes(rng.getrandbits(8) for _ in range(1000))), True),
                ("an oversized frame", struct.pack(">I", 10 * MAX_FRAME) + b"\0" * 4096, True),
                ("a negative frame size", struct.pack(">i", -5) + b"\0" * 64, True),
                ("a forged list length", forged_upsert(), True),
                ("a truncated frame", struct.pack(">I", 1000) + b"\x80\x01\x00\x01" + b"\0" * 6, False),
            ]
            for what, data, server_closes_at_once in cases:
                sock = raw_connection(server.port)
                sock.sendall(data)
                if not server_closes_at_once:
                    # The rest of the frame never comes; we hang up instead.
                    sock.shutdown(socket.SHUT_WR)
                check(closed_by_server(sock, 10.0), "server kept the connection after %s" % what)
                sock.close()
                still_serving(what)

            # A truncated frame left hanging holds a worker only until the idle timeout.
            sock = raw_connection(server.port)
            sock.sendall(struct.pack(">I", 1000) + b"\x80\x01")
            started = time.monotonic()
            check(closed_by_server(sock, 10.0, keepalive=steady.health), "a hanging half frame was never closed")
            waited = time.monotonic() - started
            check(IDLE_TIMEOUT_MS / 1000 * 0.8 <= waited <= 10.0, "hanging frame closed after %.2f s" % waited)
            sock.close()
            still_serving("a hanging frame")

            # More hostile connections at once than workers: each is closed, none starves
            # the well-behaved client for good.
            socks = [raw_connection(server.port) for _ in range(3 * THREADS)]
            for sock in socks:
                sock.sendall(bytes(rng.getrandbits(8) for _ in range(64)))
            for sock in socks:
                check(closed_by_server(sock, 10.0), "one of %d garbage connections stayed open" % len(socks))
                sock.close()
            still_serving("a burst of garbage connections")

        code = server.terminate()
        check(code == 0, "shutdown exited %d" % code)
        # The forged length must be refused before allocating, not by running out of memory.
        check("bad_alloc" not in server.log_text(), "the server tried to allocate a forged length")
    except BaseException:
        server.kill()
        print("--- server log ---\n" + server.log_text()[-20000:])
        raise
    print("garbage input test passed")


if __name__ == "__main__":
    main()
