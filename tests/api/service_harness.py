"""Shared pieces of the service tests: starting and stopping a quiver-server process,
connecting the generated Thrift client, and reading Fashion-MNIST's IDX files.

Runs under /usr/bin/python3 with Debian's python3-thrift; the generated bindings
(quiver_rpc) come from the build directory through PYTHONPATH (see CMakeLists.txt)."""

import argparse
import atexit
import gzip
import os
import shutil
import signal
import struct
import subprocess
import threading
import time

from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport

from quiver_rpc import Quiver


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", required=True, help="the quiver-server binary")
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--work-dir", required=True, help="scratch directory, emptied first")
    args = parser.parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    return args


_started = []


@atexit.register
def _kill_leftovers():
    """A failing test must not leave servers behind (CTest would wait on them)."""
    for server in _started:
        server.kill()


class ServerProcess:
    """One quiver-server process on a free port. stderr goes to a log file so that a
    failing test can show it and tests can look for log lines."""

    def __init__(self, binary, data_dir, log_path, extra_args=(), ready_timeout=60.0):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--data-dir", data_dir, *extra_args],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        _started.append(self)
        self.port = self._wait_for_port(ready_timeout)

    def _wait_for_port(self, timeout):
        # Read the announcement on a thread: readline() has no timeout of its own.
        result = {}

        def read_line():
            result["line"] = self.process.stdout.readline().decode(errors="replace")

        reader = threading.Thread(target=read_line, daemon=True)
        reader.start()
        reader.join(timeout)
        line = result.get("line", "")
        if not line.startswith("listening on 127.0.0.1:"):
            self.kill()
            raise AssertionError("server did not start (stdout %r); log:\n%s" % (line, self.log_text()))
        return int(line.strip().rsplit(":", 1)[1])

    def log_text(self):
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def terminate(self, timeout=60.0):
        """SIGTERM, then the exit code of the graceful shutdown."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server ignored SIGTERM for %.0f s; log:\n%s" % (timeout, self.log_text()))
        self._log.close()
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self._log.closed:
            self._log.close()

    def alive(self):
        return self.process.poll() is None


class Connection:
    """A framed-binary Thrift client; use as a context manager."""

    def __init__(self, port, timeout_ms=30000):
        socket = TSocket.TSocket("127.0.0.1", port)
        socket.setTimeout(timeout_ms)
        self.transport = TTransport.TFramedTransport(socket)
        self.client = Quiver.Client(TBinaryProtocol.TBinaryProtocolAccelerated(self.transport))
        self.transport.open()

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        self.transport.close()
        return False


def read_idx_images(path, count):
    """The first `count` images of an IDX3 file as lists of ints (0..255)."""
    with gzip.open(path, "rb") as f:
        magic, total, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError("%s: magic %d is not IDX3 unsigned-byte images" % (path, magic))
        dim = rows * cols
        count = min(count, total)
        data = f.read(count * dim)
    return [list(data[i * dim:(i + 1) * dim]) for i in range(count)], dim


def read_idx_labels(path, count):
    with gzip.open(path, "rb") as f:
        magic, total = struct.unpack(">II", f.read(8))
        if magic != 2049:
            raise ValueError("%s: magic %d is not IDX1 labels" % (path, magic))
        return list(f.read(min(count, total)))


def expect_error(exception_type, call, *args, contains=None):
    """Calls and asserts that it raises `exception_type` (a typed Thrift exception) whose
    message contains `contains`; returns the message."""
    try:
        call(*args)
    except exception_type as error:
        message = error.message or ""
        if contains is not None and contains not in message:
            raise AssertionError("%s message %r lacks %r" % (exception_type.__name__, message, contains))
        return message
    except Exception as error:  # noqa: BLE001 - reported as the wrong type
        raise AssertionError("expected %s, got %s: %s" % (exception_type.__name__, type(error).__name__, error))
    raise AssertionError("expected %s, but the call succeeded" % exception_type.__name__)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


def check(condition, message):
    if not condition:
        raise AssertionError(message)
