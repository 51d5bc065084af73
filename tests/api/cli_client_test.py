"""`quiver client` against a running server: list, stats, health and search print what
the server holds, and a remote failure (unknown collection) is an `error:` line and
exit code 1, like a local one."""

import os
import subprocess
import sys

from service_harness import Connection, ServerProcess, check, parse_args, read_idx_images

from quiver_rpc.ttypes import Metric, Record


def run_cli(cli, port, *args):
    result = subprocess.run([cli, "client", "--port", str(port), *args], capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def main():
    cli = sys.argv.pop(sys.argv.index("--cli") + 1)
    sys.argv.remove("--cli")
    args = parse_args(__doc__)
    images, dim = read_idx_images(os.path.join(args.fashion_mnist, "train-images-idx3-ubyte.gz"), 300)
    server = ServerProcess(args.server, args.work_dir + "/data", args.work_dir + "/server.log")
    try:
        with Connection(server.port) as client:
            client.create_collection("fm", "hnsw8,f32", Metric.L2, dim)
            client.upsert("fm", [Record(id=i, vector=[float(v) for v in images[i]], attributes={}) for i in range(300)])

        code, out, err = run_cli(cli, server.port, "list")
        check(code == 0 and out == "fm\n", "list: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "stats", "fm")
        check(code == 0 and "live vectors        300" in out and "dim                 784" in out,
              "stats: %d %r %r" % (code, out, err))
        code, out, err = run_cli(cli, server.port, "health")
        check(code == 0 and out.startswith("serving, 1 collections"), "health: %d %r %r" % (code, out, err))

        # The base file's own first rows as queries: each finds itself first, at distance 0.
        queries = os.path.join(args.fashion_mnist, "train-images-idx3-ubyte.gz")
        code, out, err = run_cli(cli, server.port, "search", "fm", queries, "--k", "3", "--max-queries", "20",
                                 "--batch", "7")
        check(code == 0, "search exited %d: %s" % (code, err))
        lines = out.splitlines()
        for q in range(10):
            check(lines[q].startswith("%d: %d:0 " % (q, q)), "query %d's line %r does not find itself" % (q, lines[q]))
        check("20 queries, k=3" in out and "QPS" in out, "search summary missing: %r" % out)

        code, out, err = run_cli(cli, server.port, "stats", "nope")
        check(code == 1 and "error: collection 'nope' does not exist" in err, "unknown collection: %d %r" % (code, err))
        code, out, err = run_cli(cli, server.port, "search", "fm", queries, "--k", "0", "--max-queries", "2")
        check(code == 1 and "error: " in err and "k 0" in err, "k=0: %d %r" % (code, err))
        check(server.terminate() == 0, "shutdown failed")
    except BaseException:
        server.kill()
        print("--- server log ---\n" + server.log_text()[-20000:])
        raise
    print("cli client test passed")


if __name__ == "__main__":
    main()
