#!/usr/bin/env python3
"""Send N GET requests, one after another, over ONE keep-alive HTTP/1.1 connection.

    python3 bench/keepalive.py --addr 127.0.0.1:PORT --path /healthz --count 500

Used by bench/run.sh for the callgrind instruction counts: every request must answer
200 on the same connection (a closed or reopened connection is an error, so that each
run costs the server exactly one accept). Bounded: COUNT requests, each with a timeout
(30 s by default). Loopback only. Prints "COUNT requests in SECONDS s" on stdout.
"""

import argparse
import http.client
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--path", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    args = ap.parse_args()

    host, _, port = args.addr.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        print(f"keepalive: {args.addr} is not 127.0.0.1:PORT", file=sys.stderr)
        return 2
    if args.count < 1:
        print("keepalive: --count must be at least 1", file=sys.stderr)
        return 2

    conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
    started = time.monotonic()
    sock = None
    try:
        for i in range(args.count):
            conn.request("GET", args.path, headers={"Connection": "keep-alive"})
            r = conn.getresponse()
            body = r.read()
            if sock is None:
                sock = conn.sock
            if r.status != 200:
                print(f"keepalive: request {i + 1}: GET {args.path} answered {r.status}: {body[:200]!r}", file=sys.stderr)
                return 1
            if r.will_close or conn.sock is not sock:
                print(f"keepalive: request {i + 1}: the server did not keep the connection alive", file=sys.stderr)
                return 1
    except (OSError, http.client.HTTPException) as e:
        print(f"keepalive: GET {args.path}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"{args.count} requests in {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
