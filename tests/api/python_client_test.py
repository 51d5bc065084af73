"""The service end to end through the generated Python client: a collection of 2000
Fashion-MNIST images with attributes, plain / filtered / min_relevance searches checked
against exact brute-force answers, every typed exception for bad input, and the data
surviving a graceful restart (SIGTERM, then a new process on the same directory)."""

import json
import math
import operator
import os
import random
import struct
import subprocess
import sys
import threading
import time

from service_harness import (Connection, ServerProcess, check, expect_error, parse_args, read_idx_images,
                             read_idx_labels)

from thrift.transport import TTransport

from quiver_rpc.ttypes import (AttributeValue, Conflict, InvalidArgument, Metric, NotFound, Record,
                               SearchRequest, Unavailable)

BASE = 2000
QUERIES = 40
K = 10
MAX_BATCH = 500
KINDS = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


def attributes_of(i, label):
    tags = ["even" if i % 2 == 0 else "odd"]
    if label in (0, 2, 4, 6):
        tags.append("top")
    return {"label": label, "kind": KINDS[label], "tags": sorted(tags)}


def to_wire(attributes):
    return {
        "label": AttributeValue(i=attributes["label"]),
        "kind": AttributeValue(s=attributes["kind"]),
        "tags": AttributeValue(tags=attributes["tags"]),
    }


def from_wire(attributes):
    result = {}
    for name, value in attributes.items():
        if value.i is not None:
            result[name] = value.i
        elif value.s is not None:
            result[name] = value.s
        elif value.d is not None:
            result[name] = value.d
        else:
            result[name] = sorted(value.tags)
    return result


def check_attention_collection(client):
    """An attention-graph collection: created with sample queries (float32 bytes), grown by
    upserts, learned by compact, and searched with queries from the samples' distribution;
    then dropped."""
    dim, keys, count = 8, 400, 200
    rng = random.Random(7)
    shift = [2.0 if j % 2 == 0 else -1.0 for j in range(dim)]  # queries unlike the keys

    def query():
        return [rng.gauss(0.0, 1.0) + shift[j] for j in range(dim)]

    vectors = [[rng.gauss(0.0, 1.0) for _ in range(dim)] for _ in range(keys)]
    sample = [query() for _ in range(count)]
    blob = struct.pack("<%df" % (count * dim), *[v for row in sample for v in row])
    ip = Metric.INNER_PRODUCT
    expect_error(InvalidArgument, client.create_collection, "kv", "attn8", ip, dim,
                 contains="create_collection_with_sample_queries")
    expect_error(InvalidArgument, client.create_collection_with_sample_queries, "kv", "attn8", ip, dim, blob[:-1],
                 contains="float32 rows")
    expect_error(InvalidArgument, client.create_collection_with_sample_queries, "kv", "attn8", ip, dim,
                 blob[:50 * dim * 4], contains="at least 100")
    expect_error(InvalidArgument, client.create_collection_with_sample_queries, "kv", "hnsw8", ip, dim, blob,
                 contains="only attention graphs")
    nan_row = struct.pack("<f", math.nan) + blob[4:]
    expect_error(InvalidArgument, client.create_collection_with_sample_queries, "kv", "attn8", ip, dim, nan_row)
    check("kv" not in client.list_collections(), "a refused attention collection was created")

    client.create_collection_with_sample_queries("kv", "attn8", ip, dim, blob)
    client.upsert("kv", [Record(id=i, vector=vectors[i], attributes={}) for i in range(keys)])
    stats = client.describe_collection("kv")
    check(stats.spec.startswith("attn8") and stats.inserted_since_learned == keys,
          "attention collection after upserts: %r" % stats)
    client.compact("kv")  # learns the graph from the sample queries
    check(client.describe_collection("kv").inserted_since_learned == 0, "compact did not learn the graph")
    found = 0
    for _ in range(20):
        q = query()
        hits = client.search("kv", SearchRequest(vector=q, k=10, ef=64))
        exact = sorted(range(keys), key=lambda i: -sum(a * b for a, b in zip(q, vectors[i])))[:10]
        found += len({h.id for h in hits} & set(exact))
    check(found >= 0.9 * 200, "attention collection recall@10 %.2f" % (found / 200))
    client.drop_collection("kv")


def exact_top(query, base, norms, allowed, k):
    """(squared distance, id) of the k nearest allowed base rows, exactly (integer pixels)."""
    q_norm = sum(v * v for v in query)
    scored = [(q_norm + norms[i] - 2 * sum(map(operator.mul, query, base[i])), i) for i in allowed]
    scored.sort()
    return scored[:k]


def recall(hits, exact):
    """Hits within the exact k-th distance, over k: ties at the boundary count as found."""
    bound = exact[-1][0]
    exact_distance = {i: d for d, i in exact}
    found = sum(1 for h in hits if h.id in exact_distance or h.score <= bound * (1 + 1e-5))
    return found / len(exact)




def main():
    args = parse_args(__doc__)
    images, dim = read_idx_images(os.path.join(args.fashion_mnist, "train-images-idx3-ubyte.gz"), BASE)
    labels = read_idx_labels(os.path.join(args.fashion_mnist, "train-labels-idx1-ubyte.gz"), BASE)
    queries, _ = read_idx_images(os.path.join(args.fashion_mnist, "t10k-images-idx3-ubyte.gz"), QUERIES)
    norms = [sum(v * v for v in row) for row in images]
    attributes = [attributes_of(i, labels[i]) for i in range(BASE)]

    # Settings from a config file, the port and directory from flags (flags win).
    config = os.path.join(args.work_dir, "server.json")
    with open(config, "w") as f:
        json.dump({"max-batch": MAX_BATCH, "threads": 4, "log-level": "debug", "port": 1,
                   "compact-deleted-fraction": 0.25, "relearn-inserted-fraction": 0.1}, f)
    # A bad config file stops the server before it serves, naming the culprit.
    bad_config = os.path.join(args.work_dir, "bad.json")
    with open(bad_config, "w") as f:
        json.dump({"prot": 9090}, f)
    result = subprocess.run([args.server, "--config", bad_config, "--port", "0"], capture_output=True, text=True,
                            timeout=60)
    check(result.returncode == 1 and "unknown config key 'prot'" in result.stderr,
          "bad config: exit %d, %r" % (result.returncode, result.stderr))
    for flags, message in ((["--relearn-inserted-fraction", "1.5"], "relearn-inserted-fraction 1.5"),
                           (["--compact-deleted-fraction", "-0.1"], "compact-deleted-fraction -0.1")):
        result = subprocess.run([args.server, "--port", "0"] + flags, capture_output=True, text=True, timeout=60)
        check(result.returncode == 1 and message in result.stderr and "expected 0 to 1" in result.stderr,
              "%r: exit %d, %r" % (flags, result.returncode, result.stderr))

    data_dir = os.path.join(args.work_dir, "data")
    log = os.path.join(args.work_dir, "server.log")
    server = ServerProcess(args.server, data_dir, log, ["--config", config])
    try:
        check(server.port != 1, "the config file's port overrode --port")
        with Connection(server.port) as client:
            check(client.health().serving, "health() says not serving")
            client.create_collection("fmnist", "hnsw16,efc100,f32", Metric.L2, dim)
            check(client.list_collections() == ["fmnist"], "list_collections: %r" % client.list_collections())

            sequences = []
            for start in range(0, BASE, MAX_BATCH):
                records = [Record(id=i, vector=[float(v) for v in images[i]], attributes=to_wire(attributes[i]))
                           for i in range(start, min(BASE, start + MAX_BATCH))]
                sequences.append(client.upsert("fmnist", records))
            check(sequences == sorted(sequences) and len(set(sequences)) == len(sequences),
                  "upsert sequence numbers do not increase: %r" % sequences)
            stats = client.describe_collection("fmnist")
            check(stats.size == BASE and stats.dim == dim and stats.metric == Metric.L2,
                  "describe_collection: %r" % stats)
            check(stats.last_sequence == sequences[-1], "last_sequence %d != %d" % (stats.last_sequence, sequences[-1]))

            # get() returns what was stored, float32 being exact on pixel values.
            for i in (0, 1, 777, BASE - 1):
                record = client.get("fmnist", i)
                check(record.vector == [float(v) for v in images[i]], "get(%d) vector differs" % i)
                check(from_wire(record.attributes) == attributes[i], "get(%d) attributes %r" % (i, record.attributes))

            # Plain search against brute force.
            everything = range(BASE)
            plain_results = []
            total_recall = 0.0
            for q in queries:
                hits = client.search("fmnist", SearchRequest(vector=[float(v) for v in q], k=K, ef=64))
                exact = exact_top(q, images, norms, everything, K)
                check(len(hits) == K, "plain search returned %d hits" % len(hits))
                check(all(hits[j].score <= hits[j + 1].score for j in range(K - 1)), "hits not best first")
                for h in hits:  # the score is the true squared distance (float32 rounding)
                    true = sum((a - b) ** 2 for a, b in zip(q, images[h.id]))
                    check(abs(h.score - true) <= 1e-4 * max(1.0, true), "score %r != %r" % (h.score, true))
                    check(h.relevance == -1.0, "relevance %r without a relevance filter" % h.relevance)
                total_recall += recall(hits, exact)
                plain_results.append([h.id for h in hits])
            plain_recall = total_recall / len(queries)
            print("plain recall@10 at ef 64: %.3f" % plain_recall)
            check(plain_recall >= 0.9, "plain recall@10 %.3f < 0.9" % plain_recall)

            # min_relevance 0 filters nothing: the same hits as the plain search.
            for q, expected in zip(queries[:10], plain_results):
                hits = client.search("fmnist", SearchRequest(vector=[float(v) for v in q], k=K, ef=64,
                                                             min_relevance=0.0))
                check([h.id for h in hits] == expected, "min_relevance=0 changed the results")

            # Filtered searches: every hit satisfies the filter; recall against the
            # filtered brute force.
            filters = [
                ("label = 3", lambda a: a["label"] == 3),
                ('tags CONTAINS "even" AND kind != "Bag"', lambda a: "even" in a["tags"] and a["kind"] != "Bag"),
                ('kind IN ("Sandal", "Sneaker") OR label >= 9', lambda a: a["kind"] in ("Sandal", "Sneaker") or a["label"] >= 9),
            ]
            for expression, admits in filters:
                allowed = [i for i in range(BASE) if admits(attributes[i])]
                total_recall = 0.0
                for q in queries:
                    hits = client.search("fmnist", SearchRequest(vector=[float(v) for v in q], k=K, ef=64,
                                                                 filter=expression, with_attributes=True))
                    check(len(hits) == K, "filter %r returned %d hits" % (expression, len(hits)))
                    for h in hits:
                        check(admits(attributes[h.id]), "filter %r admitted id %d %r" % (expression, h.id, attributes[h.id]))
                        check(from_wire(h.attributes) == attributes[h.id], "hit %d attributes differ" % h.id)
                    total_recall += recall(hits, exact_top(q, images, norms, allowed, K))
                filtered_recall = total_recall / len(queries)
                print("filter %r (%d of %d admitted): recall@10 %.3f" % (expression, len(allowed), BASE, filtered_recall))
                check(filtered_recall >= 0.85, "filtered recall@10 %.3f < 0.85" % filtered_recall)

            # search_batch answers like the single searches.
            batch = client.search_batch("fmnist", [SearchRequest(vector=[float(v) for v in q], k=K, ef=64)
                                                   for q in queries[:10]])
            check([[h.id for h in hits] for hits in batch] == plain_results[:10], "search_batch differs from search")

            # Typed exceptions for bad input; the connection stays usable after each.
            good = [float(v) for v in queries[0]]
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good[:100], k=K),
                         contains="dimension 100")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good[:-1] + [math.nan], k=K),
                         contains="783")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good[:-1] + [math.inf], k=K))
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good[:-1] + [1e300], k=K),
                         contains="float range")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=0), contains="k 0")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=10001), contains="10001")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=20, ef=-1), contains="ef -1")
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=10, ef=100001))
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=K, min_relevance=1.5))
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=K, filter="label = = 3"))
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=K, filter='label = "x'))
            expect_error(InvalidArgument, client.search, "fmnist", SearchRequest(vector=good, k=K, filter="colour = 3"))
            expect_error(NotFound, client.search, "no_such", SearchRequest(vector=good, k=K), contains="no_such")
            expect_error(NotFound, client.get, "no_such", 1)
            expect_error(NotFound, client.get, "fmnist", 123456, contains="123456")
            expect_error(NotFound, client.describe_collection, "no_such")
            expect_error(NotFound, client.drop_collection, "no_such")
            expect_error(Conflict, client.create_collection, "fmnist", "hnsw16,f32", Metric.L2, dim, contains="fmnist")
            expect_error(InvalidArgument, client.create_collection, "bad name!", "hnsw16,f32", Metric.L2, dim,
                         contains="bad name!")
            expect_error(InvalidArgument, client.create_collection, "x", "hnsw16,bogus", Metric.L2, dim, contains="bogus")
            expect_error(InvalidArgument, client.create_collection, "x", "hnsw16,f32", Metric.L2, 0, contains="dim 0")
            expect_error(InvalidArgument, client.create_collection, "x", "hnsw16,f32", 7, dim, contains="metric 7")
            expect_error(InvalidArgument, client.get, "fmnist", -5, contains="-5")
            bad_nan = Record(id=5000, vector=[math.nan] * dim, attributes={})
            expect_error(InvalidArgument, client.upsert, "fmnist", [Record(id=4999, vector=good, attributes={}), bad_nan],
                         contains="record 1")
            expect_error(NotFound, client.get, "fmnist", 4999)  # nothing of a rejected batch is written
            expect_error(InvalidArgument, client.upsert, "fmnist", [Record(id=5001, vector=good[:5], attributes={})],
                         contains="dimension 5")
            expect_error(InvalidArgument, client.upsert, "fmnist",
                         [Record(id=5002, vector=good, attributes={"label": AttributeValue(s="three")})])
            expect_error(InvalidArgument, client.upsert, "fmnist",
                         [Record(id=5003, vector=good, attributes={"empty": AttributeValue()})], contains="empty")
            expect_error(InvalidArgument, client.upsert, "fmnist",
                         [Record(id=6000 + i, vector=good, attributes={}) for i in range(MAX_BATCH + 1)],
                         contains=str(MAX_BATCH))
            expect_error(InvalidArgument, client.search_batch, "fmnist",
                         [SearchRequest(vector=good, k=K), SearchRequest(vector=good, k=0)], contains="request 1")
            check(client.describe_collection("fmnist").size == BASE, "a rejected request changed the collection")

            # Removal: gone from get() and from search.
            removed = plain_results[0][:3]
            check(client.remove("fmnist", removed + [999999]) == 3, "remove did not report 3 removals")
            for i in removed:
                expect_error(NotFound, client.get, "fmnist", i)
            hits = client.search("fmnist", SearchRequest(vector=[float(v) for v in queries[0]], k=K, ef=64))
            check(not set(removed) & {h.id for h in hits}, "removed ids still found")
            after_removal = [h.id for h in hits]

            # A second collection, dropped again.
            client.create_collection("scratch", "", Metric.COSINE, 4)
            client.upsert("scratch", [Record(id=1, vector=[1.0, 0.0, 0.0, 0.0], attributes={})])
            client.drop_collection("scratch")
            expect_error(NotFound, client.describe_collection, "scratch")
            check(client.list_collections() == ["fmnist"], "dropped collection still listed")

            check_attention_collection(client)
            check(client.list_collections() == ["fmnist"], "attention collection still listed")

            server_stats = client.stats()
            check(server_stats.errors >= 30 and server_stats.requests > server_stats.errors,
                  "stats() counts: %r" % server_stats)
            check(server_stats.max_batch == MAX_BATCH and server_stats.worker_threads == 4,
                  "config file not applied: %r" % server_stats)

        # SIGTERM while clients search: each request either completes, or is refused
        # with Unavailable, or finds its connection closed; none gets an untyped error.
        outcomes = {"ok": 0, "unavailable": 0, "closed": 0, "other": []}
        lock = threading.Lock()

        def search_until_refused():
            try:
                with Connection(server.port) as c:
                    while True:
                        try:
                            c.search("fmnist", SearchRequest(vector=[float(v) for v in queries[1]], k=K, ef=64))
                            outcome = "ok"
                        except Unavailable:
                            outcome = "unavailable"
                        with lock:
                            outcomes[outcome] += 1
            except (TTransport.TTransportException, OSError, EOFError):
                with lock:
                    outcomes["closed"] += 1
            except Exception as error:  # noqa: BLE001 - reported below
                with lock:
                    outcomes["other"].append(repr(error))

        searchers = [threading.Thread(target=search_until_refused) for _ in range(2)]
        for t in searchers:
            t.start()
        time.sleep(0.5)
        code = server.terminate()
        for t in searchers:
            t.join(30)
        print("searches during shutdown: %r" % outcomes)
        check(outcomes["ok"] > 0 and not outcomes["other"], "searches during shutdown: %r" % outcomes)
        log_text = server.log_text()
        check(code == 0, "graceful shutdown exited %d; log:\n%s" % (code, log_text))
        check("shutdown complete" in log_text, "no shutdown message in the log")
        check(log_text.count(" debug search ") >= QUERIES, "debug log has no line per search request")

        # Restart on the same directory: everything acknowledged is there.
        server = ServerProcess(args.server, data_dir, log, ["--threads", "2"])
        with Connection(server.port) as client:
            stats = client.describe_collection("fmnist")
            check(stats.size == BASE - 3, "after restart: %d vectors, expected %d" % (stats.size, BASE - 3))
            check(stats.log_entries == 0, "shutdown did not checkpoint: %d log entries to replay" % stats.log_entries)
            for i in (1, 777, BASE - 1):
                record = client.get("fmnist", i)
                check(record.vector == [float(v) for v in images[i]], "get(%d) after restart differs" % i)
                check(from_wire(record.attributes) == attributes[i], "attributes of %d after restart differ" % i)
            for i in removed:
                expect_error(NotFound, client.get, "fmnist", i)
            hits = client.search("fmnist", SearchRequest(vector=[float(v) for v in queries[0]], k=K, ef=64))
            check([h.id for h in hits] == after_removal, "search after restart differs")
        code = server.terminate()
        check(code == 0, "second shutdown exited %d" % code)
    except BaseException:
        server.kill()
        sys.stderr.write("--- server log ---\n" + server.log_text()[-20000:])
        raise
    print("python client test passed")


if __name__ == "__main__":
    main()
