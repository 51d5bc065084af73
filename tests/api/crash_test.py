"""Durability under kill -9: 20 cycles of starting the server on one data directory,
streaming upserts from two writer connections while recording every acknowledged id,
killing the server with SIGKILL at a seeded random moment, restarting it, and checking
that every acknowledged id comes back from get() with its exact vector and attributes."""

import random
import struct
import threading
import time

from service_harness import Connection, Deadline, ServerProcess, check, parse_args

from thrift.transport import TTransport

from quiver_rpc.ttypes import AttributeValue, Metric, Record

CYCLES = 20
DIM = 32
BATCH = 25
SEED = 20240601
IDS_PER_CYCLE = 2000  # both writers together; usually more than they get through
OLD_SAMPLE = 300      # earlier cycles' ids re-checked after each restart (all at the end)


def float32(value):
    """The value as float32 stores it, so that what get() returns compares exactly."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def vector_of(id_):
    rng = random.Random(id_ * 7919 + 17)
    return [float32(rng.uniform(-1.0, 1.0)) for _ in range(DIM)]


def attributes_of(id_):
    return {"writer": AttributeValue(i=id_ % 2), "name": AttributeValue(s="v%d" % id_)}


def writer(port, ids, acknowledged, lock, stop, failures):
    """Upserts batches of consecutive ids until the connection dies or `stop` is set."""
    try:
        with Connection(port, timeout_ms=10000) as client:
            position = 0
            while not stop.is_set() and position < len(ids):
                batch = ids[position:position + BATCH]
                client.upsert("crash", [Record(id=i, vector=vector_of(i), attributes=attributes_of(i)) for i in batch])
                with lock:  # only after the server acknowledged the whole batch
                    acknowledged.extend(batch)
                position += BATCH
    except (TTransport.TTransportException, OSError, EOFError):
        pass  # the server was killed under us: expected
    except Exception as error:  # noqa: BLE001 - a typed error or a bug: the test fails
        failures.append("%s: %s" % (type(error).__name__, error))


def verify(client, ids):
    for id_ in ids:
        record = client.get("crash", id_)  # NotFound fails the test
        if record.vector != vector_of(id_):
            raise AssertionError("id %d came back with another vector" % id_)
        if record.attributes != attributes_of(id_):
            raise AssertionError("id %d came back with attributes %r" % (id_, record.attributes))


def main():
    args = parse_args(__doc__)
    rng = random.Random(SEED)
    data_dir = args.work_dir + "/data"
    log = args.work_dir + "/server.log"
    acknowledged = []
    next_id = 0
    deadline = Deadline(360)

    server = ServerProcess(args.server, data_dir, log, ["--checkpoint-every", "1500", "--threads", "4"])
    with Connection(server.port) as client:
        client.create_collection("crash", "hnsw8,efc40,f32", Metric.L2, DIM)

    for cycle in range(CYCLES):
        check(deadline.left() > 0, "crash test ran out of time at cycle %d" % cycle)
        lock = threading.Lock()
        stop = threading.Event()
        cycle_acks = []
        failures = []
        threads = []
        for w in range(2):
            # Interleaved id ranges, so both writers hit the same index concurrently.
            ids = list(range(next_id + w, next_id + IDS_PER_CYCLE, 2))
            threads.append(threading.Thread(target=writer, args=(server.port, ids, cycle_acks, lock, stop, failures)))
        next_id += IDS_PER_CYCLE
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 1.5))
        server.kill()  # SIGKILL: no shutdown, no checkpoint
        stop.set()
        for t in threads:
            t.join(30)
        check(not failures, "writers failed other than by losing the connection: %r" % failures)

        started = time.monotonic()
        server = ServerProcess(args.server, data_dir, log, ["--checkpoint-every", "1500", "--threads", "4"])
        with Connection(server.port, timeout_ms=30000) as client:
            # Every id acknowledged in this cycle, a sample of the earlier ones; and the
            # size must lie between what was acknowledged and what was attempted.
            size = client.describe_collection("crash").size
            check(len(acknowledged) + len(cycle_acks) <= size <= next_id,
                  "cycle %d: %d vectors after restart, %d acknowledged" % (cycle, size, len(acknowledged) + len(cycle_acks)))
            verify(client, cycle_acks)
            verify(client, rng.sample(acknowledged, min(OLD_SAMPLE, len(acknowledged))))
        acknowledged.extend(cycle_acks)
        print("cycle %2d: %4d acknowledged this cycle, %5d in all, restart + verify %.2f s"
              % (cycle, len(cycle_acks), len(acknowledged), time.monotonic() - started), flush=True)

    with Connection(server.port, timeout_ms=30000) as client:
        verify(client, acknowledged)
    code = server.terminate()
    check(code == 0, "final graceful shutdown exited %d" % code)
    check(len(acknowledged) > CYCLES * BATCH, "too few writes were acknowledged to test anything")
    print("crash test passed: %d acknowledged ids survived %d kill -9 cycles" % (len(acknowledged), CYCLES))


if __name__ == "__main__":
    main()
