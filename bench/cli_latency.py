#!/usr/bin/env python3
"""What an operator's script waits for: the wall time of one administration
command against a running server, Waxwing's CLI beside prosodyctl and
ejabberdctl, each server on loopback as the federation tests run them.

    .venv/bin/python bench/cli_latency.py [--runs N]

For each server: N accounts registered one command at a time (`waxwing user
add`, `prosodyctl register`, `ejabberdctl register`), the online sessions
listed N times (`waxwing sessions`, `ejabberdctl connected_users`; Prosody's
prosodyctl has no such command without its telnet console), and the N
accounts deleted (`waxwing user del`, `prosodyctl deluser`, `ejabberdctl
unregister`); and, what a restart costs clients, the time from starting
each server to its accepting clients (`--starts` times: Waxwing until it
writes listening.json, the peers until their c2s port answers). Prints the
median and the 90th percentile per command in ms. A measurement, never
asserted.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import conftest  # noqa: E402  (the test harness: a Waxwing on loopback)
import peers  # noqa: E402  (Prosody and ejabberd on loopback)

PASSWORD = "bench-pw-1"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    return f"{statistics.median(samples):8.1f} {p90:8.1f}"


def check(done: subprocess.CompletedProcess) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{done.args}: exit {done.returncode}\n{done.stderr}")


def starts(n: int, start) -> list[float]:
    """`start()` enters a server's context manager n times, timing each entry."""
    out = []
    for _ in range(n):
        begun = time.perf_counter()
        with start():
            out.append((time.perf_counter() - begun) * 1000)
    return out


def waxwing(runs: int, n_starts: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"register": [], "list sessions": [], "delete": []}
    out["start"] = starts(n_starts, conftest.running)
    with conftest.running() as s:
        for i in range(runs):
            out["register"].append(timed(lambda: check(s.cli("user", "add", f"u{i}@localhost", PASSWORD))))
        for _ in range(runs):
            out["list sessions"].append(timed(lambda: check(s.cli("sessions"))))
        for i in range(runs):
            out["delete"].append(timed(lambda: check(s.cli("user", "del", f"u{i}@localhost"))))
    return out


def prosody(runs: int, n_starts: int, tmp: pathlib.Path, hosts: pathlib.Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"register": [], "delete": []}
    out["start"] = starts(n_starts, lambda: peers.prosody("prosody.test", "127.0.0.21", hosts, tmp, muc=False))
    with peers.prosody("prosody.test", "127.0.0.21", hosts, tmp, muc=False) as p:
        for i in range(runs):
            out["register"].append(timed(lambda: p.prosodyctl("register", f"u{i}", p.domain, PASSWORD)))
        for i in range(runs):
            out["delete"].append(timed(lambda: p.prosodyctl("deluser", f"u{i}@{p.domain}")))
    return out


def ejabberd(runs: int, n_starts: int, tmp: pathlib.Path, hosts: pathlib.Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"register": [], "list sessions": [], "delete": []}
    out["start"] = starts(n_starts, lambda: peers.ejabberd("ejabberd.test", "127.0.0.22", hosts, tmp, muc=False))
    with peers.ejabberd("ejabberd.test", "127.0.0.22", hosts, tmp, muc=False) as e:
        for i in range(runs):
            out["register"].append(timed(lambda: e.ctl("register", f"u{i}", e.domain, PASSWORD)))
        for _ in range(runs):
            out["list sessions"].append(timed(lambda: e.ctl("connected_users")))
        for i in range(runs):
            out["delete"].append(timed(lambda: e.ctl("unregister", f"u{i}", e.domain)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--starts", type=int, default=5)
    args = ap.parse_args()
    missing = peers.unavailable()
    results = {"Waxwing": waxwing(args.runs, args.starts)}
    with tempfile.TemporaryDirectory(prefix="cli-latency-") as tmp_name:
        tmp = pathlib.Path(tmp_name)
        hosts = peers.write_hosts(
            tmp / "hosts",
            {"127.0.0.21": peers.served_names("prosody.test", muc=False),
             "127.0.0.22": peers.served_names("ejabberd.test", muc=False)},
        )
        if missing:
            print(f"peers skipped: {missing}", file=sys.stderr)
        else:
            results["Prosody"] = prosody(args.runs, args.starts, tmp, hosts)
            results["ejabberd"] = ejabberd(args.runs, args.starts, tmp, hosts)
    print(f"{'server':10} {'command':14} {'median ms':>9} {'p90 ms':>8}   ({args.runs} runs, {args.starts} starts)")
    for server, commands in results.items():
        for command, samples in commands.items():
            print(f"{server:10} {command:14} {summary(samples)}")


if __name__ == "__main__":
    main()
