"""`quiver client` against a running server: list, stats, health and search print what
the server holds, and a remote failure (unknown collection) is an `error:` line and
exit code 1, like a local one. A relevance filter trained by `quiver train-filter` and
attached with `quiver client set-filter` scores the hits (also after a restart) and
min_relevance cuts them until `quiver client clear-filter` detaches it (durably); a
corrupt or mismatched filter is refused. train-filter's
--base-classes (the open-set protocol) reaches eval-filter, and a bad class list is refused."""

import json
import os
import shutil
import struct
import subprocess
import sys

from service_harness import (Connection, ServerProcess, check, expect_error, parse_args, read_idx_images,
                             read_idx_labels)

from quiver_rpc.ttypes import InvalidArgument, Metric, NotFound, Record, SearchRequest

BASE = 300


def write_fvecs(path, rows):
    with open(path, "wb") as f:
        for row in rows:
            f.write(struct.pack("<i%df" % len(row), len(row), *row))


def write_labels(path, labels):
    with open(path, "w") as f:
        f.write("".join("%d\n" % label for label in labels))


def train_filter(cli, args, images, labels):
    """A relevance filter for the collection's images, trained by the CLI on 200 test
    images (relevant: same class)."""
    queries, _ = read_idx_images(os.path.join(args.fashion_mnist, "t10k-images-idx3-ubyte.gz"), 200)
    query_labels = read_idx_labels(os.path.join(args.fashion_mnist, "t10k-labels-idx1-ubyte.gz"), 200)
    paths = {name: os.path.join(args.work_dir, name) for name in ("base.fvecs", "q.fvecs", "base.txt", "q.txt",
                                                                 "filter.json")}
    write_fvecs(paths["base.fvecs"], images)
    write_fvecs(paths["q.fvecs"], queries)
    write_labels(paths["base.txt"], labels)
    write_labels(paths["q.txt"], query_labels)
    result = subprocess.run([cli, "train-filter", "--base", paths["base.fvecs"], "--queries", paths["q.fvecs"],
                             "--labels-base", paths["base.txt"], "--labels-queries", paths["q.txt"],
                             "--train-queries", "0:200", "-k", "20", "--epochs", "40", "-o", paths["filter.json"]],
                            capture_output=True, text=True, timeout=300)
    check(result.returncode == 0, "train-filter exited %d: %s" % (result.returncode, result.stderr))
    return paths["filter.json"], queries, paths


def check_open_set(cli, paths, work_dir):
    """With only the even classes in the base, every query of an odd class has no relevant
    result: eval-filter replays the same base and its pairs are about half relevant."""
    common = ["--base", paths["base.fvecs"], "--queries", paths["q.fvecs"], "--labels-base", paths["base.txt"],
              "--labels-queries", paths["q.txt"], "-k", "20", "--epochs", "40"]
    open_filter = os.path.join(work_dir, "open-set.json")
    result = subprocess.run([cli, "train-filter", *common, "--base-classes", "0,2,4,6,8", "--train-queries", "0:120",
                             "-o", open_filter], capture_output=True, text=True, timeout=300)
    check(result.returncode == 0, "open-set train-filter exited %d: %s" % (result.returncode, result.stderr))
    report = os.path.join(work_dir, "open-set-eval.json")
    result = subprocess.run([cli, "eval-filter", open_filter, "--eval-queries", "120:200", "--json", report],
                            capture_output=True, text=True, timeout=300)
    check(result.returncode == 0, "open-set eval-filter exited %d: %s" % (result.returncode, result.stderr))
    with open(report) as f:
        document = json.load(f)
    check(document["base_classes"] == "0,2,4,6,8", "eval-filter did not replay --base-classes: %r" % document)
    with open(paths["q.txt"]) as f:
        eval_labels = [int(line) for line in f.read().split()][120:200]
    odd_share = sum(label % 2 for label in eval_labels) / len(eval_labels)
    check(document["relevant_fraction"] <= 1.0 - odd_share + 1e-9,
          "odd-class queries found relevant results: %r of pairs relevant, %r of queries odd" %
          (document["relevant_fraction"], odd_share))
    for bad, message in (("0,x", "not a class label"), ("0,0", "names a class twice"), ("42", "no base vector")):
        result = subprocess.run([cli, "train-filter", *common, "--base-classes", bad, "--train-queries", "0:120",
                                 "-o", os.path.join(work_dir, "unused.json")], capture_output=True, text=True,
                                timeout=300)
        check(result.returncode != 0 and message in result.stderr,
              "--base-classes %s: exit %d, %r" % (bad, result.returncode, result.stderr))


def run_cli(cli, port, *args):
    result = subprocess.run([cli, "client", "--port", str(port), *args], capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def main():
    cli = sys.argv.pop(sys.argv.index("--cli") + 1)
    sys.argv.remove("--cli")
    args = parse_args(__doc__)
    images, dim = read_idx_images(os.path.join(args.fashion_mnist, "train-images-idx3-ubyte.gz"), BASE)
    labels = read_idx_labels(os.path.join(args.fashion_mnist, "train-labels-idx1-ubyte.gz"), BASE)
    filter_file, queries, paths = train_filter(cli, args, images, labels)
    check_open_set(cli, paths, args.work_dir)
    server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server.log")
    try:
        with Connection(server.port) as client:
            client.create_collection("fm", "hnsw8,f32", Metric.L2, dim)
            client.upsert("fm", [Record(id=i, vector=[float(v) for v in images[i]], attributes={}) for i in range(BASE)])

        code, out, err = run_cli(cli, server.port, "list")
        check(code == 0 and out == "fm\n", "list: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "stats", "fm")
        check(code == 0 and "live vectors        300" in out and "dim                 784" in out,
              "stats: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "health")
        check(code == 0 and out.startswith("serving, 1 collections"), "health: %d %r %r" % (code, out, err))

        # The base file's own first rows as queries: each finds itself first, at distance 0.
        base_file = os.path.join(args.fashion_mnist, "train-images-idx3-ubyte.gz")
        code, out, err = run_cli(cli, server.port, "search", "fm", base_file, "--k", "3", "--max-queries", "20",
                                 "--batch", "7")
        check(code == 0, "search exited %d: %s" % (code, err))
        lines = out.splitlines()
        for q in range(10):
            check(lines[q].startswith("%d: %d:0 " % (q, q)), "query %d's line %r does not find itself" % (q, lines[q]))
        check("20 queries, k=3" in out and "QPS" in out, "search summary missing: %r" % out)

        code, out, err = run_cli(cli, server.port, "stats", "nope")
        check(code == 1 and "error: collection 'nope' does not exist" in err, "unknown collection: %d %r" % (code, err))
        code, out, err = run_cli(cli, server.port, "search", "fm", base_file, "--k", "0", "--max-queries", "2")
        check(code == 1 and "error: " in err and "k 0" in err, "k=0: %d %r" % (code, err))

        # An attention-graph collection shows the keys its graph has not learned yet; a
        # compact learns them, even in a collection smaller than a query's neighbourhood.
        with Connection(server.port) as client:
            sample = struct.pack("<400f", *[float((i * 7) % 11) - 5.0 for i in range(400)])  # 100 x 4
            client.create_collection_with_sample_queries("kv", "attn8", Metric.INNER_PRODUCT, 4, sample)
            client.upsert("kv", [Record(id=i, vector=[float(i), 1.0, -1.0, 0.5], attributes={}) for i in range(5)])
        code, out, err = run_cli(cli, server.port, "stats", "kv")
        check(code == 0 and "unlearned keys      5" in out, "stats of an attention collection: %d %r" % (code, out))
        code, out, err = run_cli(cli, server.port, "compact", "kv")
        check(code == 0, "compact kv: %d %r" % (code, err))
        code, out, err = run_cli(cli, server.port, "stats", "kv")
        check("unlearned keys      0" in out and "live vectors        5" in out, "stats after compact: %r" % out)
        code, out, err = run_cli(cli, server.port, "stats", "fm")
        check("unlearned keys" not in out, "an HNSW collection reports unlearned keys: %r" % out)
        # One new key of six: the shutdown checkpoint learns it (default share 0.1); the next
        # server, told 0.5, keeps one new key of seven unlearned through its checkpoint.
        with Connection(server.port) as client:
            client.upsert("kv", [Record(id=5, vector=[5.0, 1.0, -1.0, 0.5], attributes={})])

        # The relevance filter: attached through the CLI, refused when corrupt or trained
        # for another dimension, and kept across a restart.
        code, out, err = run_cli(cli, server.port, "set-filter", "fm", filter_file)
        check(code == 0 and "attached" in out, "set-filter: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "stats", "fm")
        check("relevance filter    yes" in out, "stats after set-filter: %r" % out)
        with Connection(server.port) as client:
            expect_error(InvalidArgument, client.set_relevance_filter, "fm", b"{not a filter", contains="filter_file")
            client.create_collection("small", "hnsw8,f32", Metric.L2, 4)
            with open(filter_file, "rb") as f:
                expect_error(InvalidArgument, client.set_relevance_filter, "small", f.read(), contains="784")
        code, out, err = run_cli(cli, server.port, "set-filter", "nope", filter_file)
        check(code == 1 and "nope" in err, "set-filter on an unknown collection: %d %r" % (code, err))
        check(server.terminate() == 0, "shutdown failed")

        server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server-2.log",
                               ["--relearn-inserted-fraction", "0.5"])
        with Connection(server.port) as client:
            check(client.describe_collection("fm").has_relevance_filter, "the filter did not survive a restart")
            check(client.describe_collection("kv").inserted_since_learned == 0,
                  "the shutdown checkpoint did not learn the attention graph again")
            client.upsert("kv", [Record(id=6, vector=[6.0, 1.0, -1.0, 0.5], attributes={})])
            kept_some = cut_some = False
            for q in queries[:20]:
                vector = [float(v) for v in q]
                hits = client.search("fm", SearchRequest(vector=vector, k=10))
                check(len(hits) == 10 and all(0.0 <= h.relevance <= 1.0 for h in hits),
                      "relevance outside [0, 1]: %r" % [h.relevance for h in hits])
                cut = client.search("fm", SearchRequest(vector=vector, k=10, min_relevance=0.5))
                check([h.id for h in cut] == [h.id for h in hits if h.relevance >= 0.5],
                      "min_relevance 0.5 did not cut exactly the hits below 0.5")
                kept_some |= len(cut) > 0
                cut_some |= len(cut) < len(hits)
            check(kept_some and cut_some, "min_relevance 0.5 kept all or nothing over 20 queries")
        # Detached through the CLI: no relevance on hits, thresholds refused, also after a restart.
        code, out, err = run_cli(cli, server.port, "clear-filter", "fm")
        check(code == 0 and "detached" in out, "clear-filter: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "clear-filter", "fm")
        check(code == 0 and "nothing to detach" in out, "second clear-filter: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "clear-filter", "nope")
        check(code == 1 and "nope" in err, "clear-filter on an unknown collection: %d %r" % (code, err))
        with Connection(server.port) as client:
            vector = [float(v) for v in queries[0]]
            hits = client.search("fm", SearchRequest(vector=vector, k=10))
            check(all(h.relevance == -1.0 for h in hits), "relevance after clear-filter: %r" % hits)
            expect_error(InvalidArgument, client.search, "fm", SearchRequest(vector=vector, k=10, min_relevance=0.5),
                         contains="relevance")
        check(server.terminate() == 0, "shutdown failed")

        server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server-3.log")
        with Connection(server.port) as client:
            check(not client.describe_collection("fm").has_relevance_filter, "the detach did not survive a restart")
            stats = client.describe_collection("kv")
            check(stats.size == 7 and stats.inserted_since_learned == 1 and stats.log_entries == 0,
                  "--relearn-inserted-fraction 0.5 was not applied: %r" % stats)
            client.drop_collection("kv")
            check(client.describe_collection("fm").index_recovery == "", "recovery reported for an intact checkpoint")
        check(server.terminate() == 0, "shutdown failed")

        # A lost index checkpoint: the next start rebuilds it from the stored vectors,
        # says so in the log and in the stats, and serves the same answers.
        shutil.rmtree(os.path.join(args.work_dir, "data", "fm", "index"))
        server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server-4.log")
        with Connection(server.port) as client:
            stats = client.describe_collection("fm")
            check(stats.size == BASE and "missing" in stats.index_recovery,
                  "after losing index/: size %d, recovery %r" % (stats.size, stats.index_recovery))
            hits = client.search("fm", SearchRequest(vector=[float(v) for v in images[5]], k=1))
            check(hits[0].id == 5, "the rebuilt index does not find vector 5 first: %r" % hits)
        code, out, err = run_cli(cli, server.port, "stats", "fm")
        check("index recovery      rebuilt the index" in out, "stats after a rebuild: %r" % out)
        # Tombstones: removed ids are counted until compact drops them (through the CLI).
        with Connection(server.port) as client:
            check(client.remove("fm", list(range(100, 110))) == 10, "remove did not remove 10 ids")
            check(client.describe_collection("fm").deleted == 10, "10 removals are not 10 tombstones")
        code, out, err = run_cli(cli, server.port, "compact", "fm")
        check(code == 0 and "10 tombstones dropped" in out, "compact: %d %r %r" % (code, out, err))
        with Connection(server.port) as client:
            stats = client.describe_collection("fm")
            check(stats.deleted == 0 and stats.size == BASE - 10 and stats.log_entries == 0,
                  "after compact: deleted %d, size %d, log %d" % (stats.deleted, stats.size, stats.log_entries))
            hits = client.search("fm", SearchRequest(vector=[float(v) for v in images[5]], k=1))
            check(hits[0].id == 5, "vector 5 is not found first after compact: %r" % hits)
            check(client.compact("fm") == 0, "a second compact dropped tombstones")
            expect_error(NotFound, client.compact, "nope", contains="nope")
        check("rebuilt the index from the stored vectors" in server.log_text(), "no warning in the server log")
        check(server.terminate() == 0, "shutdown failed")
    except BaseException:
        server.kill()
        print("--- server log ---\n" + server.log_text()[-20000:])
        raise
    print("cli client test passed")


if __name__ == "__main__":
    main()
