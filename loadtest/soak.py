#!/usr/bin/env python3
"""Soak test: a mixed GraphQL workload at 80% of the measured maximum rate, with RSS samples.

Python 3 standard library and wrk (Debian package `wrk`); no build step. It:
  1. starts the server binary (default target/release/sessions) on a free 127.0.0.1 port with
     the chosen store (memory, or SQLite in a fresh temporary folder) and a short
     --expire-timeout / --cleanup-interval, so expiry runs during the soak; the server is
     pinned to one core and wrk to the other with taskset, when there are two;
  2. runs the mix (loadtest/soak-mix.lua) unthrottled for --max-duration seconds: the maximum
     rate; this also warms the server up;
  3. runs the same mix rate-limited to --fraction of that maximum for --duration seconds,
     sampling the server's VmRSS (/proc/PID/status) and its /status session counts every
     --sample-every seconds;
  4. stops the server by its PID and prints a report (stdout) ready to paste into a note.
Exit status: 0 when both runs had no errors (and no late expiries), 1 otherwise, 2 when the
soak could not run (no wrk, no binary, the server did not start).

  python3 loadtest/soak.py --store memory                    # 20 s max, then 600 s at 80%
  python3 loadtest/soak.py --store sqlite --duration 30      # a quick try
Traffic goes only to 127.0.0.1; every loop and wait is bounded.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LOADTEST_DIR = os.path.dirname(os.path.abspath(__file__))
MIX = os.path.join(LOADTEST_DIR, "soak-mix.lua")
# The project's release build, wherever the script is started from.
DEFAULT_BIN = os.path.relpath(os.path.join(LOADTEST_DIR, "..", "target", "release", "sessions"))
# Counters of the SOAK line that are errors (wrk's own socket errors and timeouts included).
ERROR_KEYS = ("connect", "read", "write", "timeout", "non_200", "bad_body", "session_closed",
              "late_expiry")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("SESSIONS_BIN", DEFAULT_BIN),
                   help="server binary (or env SESSIONS_BIN)")
    p.add_argument("--store", choices=("memory", "sqlite"), default="memory",
                   help="sqlite: a fresh file in a temporary folder (under TMPDIR)")
    p.add_argument("--duration", type=int, default=600, help="soak seconds")
    p.add_argument("--max-duration", type=int, default=20, help="seconds of the maximum-rate run")
    p.add_argument("--fraction", type=float, default=0.8, help="share of the maximum rate held")
    p.add_argument("--connections", type=int, default=64,
                   help="wrk connections (both runs; in the soak only a cap on requests in flight)")
    p.add_argument("--expire-timeout", type=int, default=10, help="server --expire-timeout, s")
    p.add_argument("--cleanup-interval", type=int, default=2, help="server --cleanup-interval, s")
    p.add_argument("--users", type=int, default=5000, help="distinct userIds in the mix")
    p.add_argument("--sample-every", type=int, default=10, help="seconds between RSS samples")
    p.add_argument("--server-cpu", type=int, default=1, help="core for the server (taskset)")
    p.add_argument("--load-cpu", type=int, default=0, help="core for wrk (taskset)")
    p.add_argument("--nice", type=int, metavar="N",
                   help="run the server and wrk at this niceness (e.g. -10, needs root), so other "
                        "work on a shared machine steals less of their CPU")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    a = p.parse_args()
    if a.duration < 1 or a.max_duration < 1 or not 0 < a.fraction <= 1 or a.connections < 1:
        p.error("--duration and --max-duration must be >= 1, --fraction in (0, 1], --connections >= 1")
    if a.sample_every < 1 or a.expire_timeout < 2 or a.cleanup_interval < 1:
        p.error("--sample-every >= 1, --expire-timeout >= 2 and --cleanup-interval >= 1 (seconds)")
    return a


def free_port():
    # The port is free when asked; the server binds it a moment later (a small race, retried).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(args, cpu, use_taskset):
    """The command prefix: niceness, then the core (both exec the program: its PID stays)."""
    prefix = ["nice", "-n", str(args.nice)] if args.nice is not None else []
    return prefix + (["taskset", "-c", str(cpu)] if use_taskset else [])


def http_get(port, path, timeout=2.0):
    """-> (status, body bytes), or (None, b"") when the server does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


class Server:
    """The server under test, started here and stopped by its own PID."""

    def __init__(self, args, work_dir, use_taskset):
        self.args, self.work_dir, self.use_taskset = args, work_dir, use_taskset
        self.proc = self.port = None
        self.log_path = os.path.join(work_dir, "server.log")

    def store_url(self):
        if self.args.store == "sqlite":
            return "sqlite://" + os.path.join(self.work_dir, "sessions.db")
        return "memory"

    def start(self):
        for _attempt in range(3):
            self.port = free_port()
            cmd = pinned(self.args, self.args.server_cpu, self.use_taskset) + [
                self.args.bin, "--listen", f"127.0.0.1:{self.port}", "--store", self.store_url(),
                "--expire-timeout", f"{self.args.expire_timeout}s",
                "--cleanup-interval", f"{self.args.cleanup_interval}s"]
            log("start: " + " ".join(cmd))
            with open(self.log_path, "ab") as out:
                # nice and taskset exec the server, so this PID is the server's own.
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            for _ in range(100):  # up to ~10 s
                if self.proc.poll() is not None:
                    break
                if http_get(self.port, "/heartbeat", timeout=1)[0] == 200:
                    return
                time.sleep(0.1)
            self.stop()
        raise RuntimeError(f"the server did not start; see {self.log_path}")

    def rss_kib(self):
        """VmRSS in KiB; raises RuntimeError when the server is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        raise RuntimeError(f"the server (PID {self.proc.pid}) is gone; see {self.log_path}")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def counts(self):
        """(active, total) sessions from /status, or (None, None)."""
        status, body = http_get(self.port, "/status")
        try:
            sessions = json.loads(body)["sessions"] if status == 200 else {}
            return sessions.get("active"), sessions.get("total")
        except (ValueError, KeyError, TypeError):
            return None, None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(args, server, seconds, rate, use_taskset, on_tick=None):
    """Run the mix for `seconds` (rate 0 = unthrottled) -> the SOAK line's figures as a dict,
    with the rate, the error count and the CPU use of the server and of wrk (% of one core).
    on_tick(elapsed) is called every --sample-every seconds while wrk runs."""
    port = server.port
    env = dict(os.environ, SOAK_RATE=f"{rate:.1f}", SOAK_THREADS="1",
               SOAK_EXPIRE=str(args.expire_timeout), SOAK_CLEANUP=str(args.cleanup_interval),
               SOAK_USERS=str(args.users))
    cmd = pinned(args, args.load_cpu, use_taskset) + [
        "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "5s", "-s", MIX,
        f"http://127.0.0.1:{port}/graphql"]
    server_cpu0, wrk_cpu0 = server.cpu_seconds(), children_cpu_seconds()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    start = time.monotonic()
    deadline = start + seconds + 30  # wrk stops itself at -d; this bounds a hung wrk
    try:
        ticks = (seconds - 1) // args.sample_every  # the last sample is taken after wrk
        for i in range(1, ticks + 1):
            wake = start + i * args.sample_every
            while proc.poll() is None and time.monotonic() < min(wake, deadline):
                time.sleep(min(0.2, max(0.0, wake - time.monotonic())))
            if proc.poll() is not None or time.monotonic() >= deadline:
                break
            if on_tick:
                on_tick(time.monotonic() - start)
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise RuntimeError("wrk did not stop in time") from None
    finally:
        if proc.poll() is None:  # stopped early (an error above): end this wrk, by its PID
            proc.kill()
            proc.communicate(timeout=5)
    # wrk is the only child reaped meanwhile: the server is reaped when it stops.
    server_cpu, wrk_cpu = server.cpu_seconds() - server_cpu0, children_cpu_seconds() - wrk_cpu0
    figures, bad = None, None
    for line in out.splitlines():
        if line.startswith("SOAK "):
            figures = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
        elif line.startswith("SOAKBAD "):
            bad = line[len("SOAKBAD "):]
    if figures is None:
        raise RuntimeError("wrk printed no SOAK line:\n" + out[-2000:])
    elapsed = figures["duration_us"] / 1e6
    figures["rate"] = figures["requests"] / elapsed
    figures["server_cpu_pct"] = 100 * server_cpu / elapsed
    figures["wrk_cpu_pct"] = 100 * wrk_cpu / elapsed
    figures["errors"] = sum(figures[k] for k in ERROR_KEYS)
    figures["first_bad"] = bad
    return figures


def mib(kib):
    return f"{kib / 1024:.1f}" if kib is not None else "?"


def nearest(samples, t):
    return min(samples, key=lambda s: abs(s["t"] - t))


def report(args, run, version):
    """The paste-ready summary, as a list of lines."""
    maxrun, soak, samples = run["max"], run["soak"], run["samples"]
    start, middle, end = samples[0], nearest(samples, args.duration / 2), samples[-1]
    second_half = [s["rss_kib"] for s in samples if s["t"] >= args.duration / 2]
    target = args.fraction * maxrun["rate"]
    lines = [
        f"soak: {args.store} store, {version}, mix at {args.fraction:.0%} of max for "
        f"{args.duration} s (--expire-timeout {args.expire_timeout}s "
        f"--cleanup-interval {args.cleanup_interval}s, {args.connections} connections)",
        f"max rate:  {maxrun['rate']:.0f} req/s over {maxrun['duration_us'] / 1e6:.0f} s, "
        f"errors {maxrun['errors']}; CPU server {maxrun['server_cpu_pct']:.0f}%, "
        f"wrk {maxrun['wrk_cpu_pct']:.0f}%",
        f"held rate: {soak['rate']:.0f} req/s (target {target:.0f}), {soak['requests']} requests "
        f"in {soak['duration_us'] / 1e6:.0f} s; CPU server {soak['server_cpu_pct']:.0f}%, "
        f"wrk {soak['wrk_cpu_pct']:.0f}%",
        f"errors:    {soak['errors']} (non-200 {soak['non_200']}, socket "
        f"{soak['connect'] + soak['read'] + soak['write']}, timeouts {soak['timeout']}, "
        f"GraphQL/shape {soak['bad_body']}, SESSION_CLOSED {soak['session_closed']}, "
        f"late expiries {soak['late_expiry']})",
        f"latency:   p50 {soak['p50_us'] / 1000:.1f} ms, p99 {soak['p99_us'] / 1000:.1f} ms, "
        f"max {soak['max_us'] / 1000:.1f} ms",
        f"ops:       open {soak['ops_open']}, get {soak['ops_get']}, store {soak['ops_store']}, "
        f"list {soak['ops_list']}, close {soak['ops_close']}, delete {soak['ops_delete']}, "
        f"expiry checks {soak['ops_check']}, closeExpiredSessions {soak['ops_expire']}",
        f"expiry:    {soak['expired_seen']} abandoned sessions found closed by expiry; "
        f"closeExpiredSessions calls closed {soak['expire_call_closed']}",
        f"RSS MiB:   start {mib(start['rss_kib'])}, middle {mib(middle['rss_kib'])}, "
        f"end {mib(end['rss_kib'])}; second half min {mib(min(second_half))} "
        f"max {mib(max(second_half))}",
        f"RSS MiB every {args.sample_every} s: " + " ".join(mib(s["rss_kib"]) for s in samples),
        f"sessions active/total: start {start['active']}/{start['total']}, "
        f"middle {middle['active']}/{middle['total']}, end {end['active']}/{end['total']}",
        "load average (1 min): %.1f before the max run, %.1f after the soak"
        % (run["load_before"], run["load_after"]),
    ]
    if soak["lagged"]:
        lines.append(f"note: wrk fell more than 1 s behind its schedule ({soak['lagged']}x) "
                     "and dropped those requests (the server or the machine could not keep up)")
    for name, figures in (("max run", maxrun), ("soak", soak)):
        if figures["first_bad"]:
            lines.append(f"first bad answer ({name}): {figures['first_bad'][:300]}")
    failed = maxrun["errors"] or soak["errors"]
    lines.append("result: " + ("FAIL (errors)" if failed else "PASS (0 errors)"))
    return lines


def soak_run(args, server, use_taskset):
    """The max run, then the soak with its samples -> a dict of figures."""
    load_before = os.getloadavg()[0]
    log(f"max rate: unthrottled mix for {args.max_duration} s")
    maxrun = run_wrk(args, server, args.max_duration, 0, use_taskset)
    log(f"max rate: {maxrun['rate']:.0f} req/s, errors {maxrun['errors']}")
    rate = args.fraction * maxrun["rate"]
    samples = []

    def sample(t):
        active, total = server.counts()
        samples.append({"t": round(t), "rss_kib": server.rss_kib(), "active": active,
                        "total": total})
        log(f"t={t:4.0f}s RSS {mib(samples[-1]['rss_kib'])} MiB, sessions {active}/{total}")

    log(f"soak: {rate:.0f} req/s for {args.duration} s")
    sample(0)
    soak = run_wrk(args, server, args.duration, rate, use_taskset, on_tick=sample)
    sample(soak["duration_us"] / 1e6)
    return {"max": maxrun, "soak": soak, "samples": samples, "load_before": load_before,
            "load_after": os.getloadavg()[0]}


def main():
    args = parse_args()
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install -y wrk)")
        return 2
    if not os.access(args.bin, os.X_OK):
        log(f"no server binary at {args.bin} (cargo build --release, or pass --bin)")
        return 2
    use_taskset = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not use_taskset:
        log("taskset or a second core is missing: server and wrk run unpinned")
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip() or args.bin
    work_dir = tempfile.mkdtemp(prefix="sessions-soak-")
    server = Server(args, work_dir, use_taskset)
    ok = False
    try:
        server.start()
        log(f"server PID {server.proc.pid} on 127.0.0.1:{server.port}, files in {work_dir}")
        run = soak_run(args, server, use_taskset)
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited during the soak; see {server.log_path}")
        print("\n".join(report(args, run, version)), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(run, store=args.store, version=version), f, indent=1)
        ok = not (run["max"]["errors"] or run["soak"]["errors"])
        return 0 if ok else 1
    except RuntimeError as e:
        log(str(e))
        return 2
    finally:
        server.stop()
        if ok:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            log(f"kept the server log and files in {work_dir}")


if __name__ == "__main__":
    sys.exit(main())
