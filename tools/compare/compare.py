#!/usr/bin/env python3
"""tools/compare/compare.py - the driver of `make compare` and `make plots`.

Runs the same workloads, with the same parameters, as
  tricolor  the hosted build (build/hosted/tricolor-bench, suite "compare",
            tests/compare_bench.c), gctrace=1
  go1       Go (tools/compare/go), GOMAXPROCS=1, GODEBUG=gctrace=1
  go        Go, GOMAXPROCS left to the runtime (= CPUs), GODEBUG=gctrace=1
  boehm     C on the Boehm collector (tools/compare/workloads.c)
  malloc    C on glibc malloc/free (the same file), the manual baseline
interleaved: each repeat runs every workload on every side in turn, so a
slow patch of the machine (another process, thermal state) hits all sides
alike. Every run is a fresh process that does the workload once, cold
(warm-up off on every side), timed inside the program; a figure is the
median over the repeats. Each run prints a checksum of its work; the driver
stops with an error unless every side and repeat printed the same one.

Subcommands:
  run    the comparison: tables on stdout and in OUT/results.md, raw
         numbers in OUT/results.json, every run's output under OUT/logs/;
         also the trace run below
  trace  the pause / heap trace run only: the churn workload at ~64 MiB
         live with 1,000 parked tasks, tricolor (gctrace=1 plus a
         GCSAMPLE line every 2 ms) and Go (gctrace); logs in OUT/trace/
  plotdata  turns OUT/trace/ into the .dat files tools/compare/plots.gp
         draws from
  report re-renders OUT/results.md from OUT/results.json (no runs)

Exits non-zero, saying why, when a program is missing, a run fails or
times out, or checksums differ: no number is printed for work not done.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRICOLOR_BIN = os.path.join(ROOT, "build", "hosted", "tricolor-bench")
RUN_TIMEOUT_S = 300  # one run; a hang past this is an error, not a skip

ALL_SIDES = ["tricolor", "go1", "go", "boehm", "malloc"]
TASK_SIDES = ["tricolor", "go1", "go"]  # C has no tasks or channels
GC_SIDES = ["tricolor", "go1", "go", "boehm"]


class Workload:
    """One row of the table.

    name: row label; kind: the program's workload name; params: its
    parameters (the same on every side); per: items one run does, the
    time is divided by it; unit: 'ms' per run or 'ns' per item.
    """

    def __init__(self, name, kind, params, per, unit, sides, what):
        self.name, self.kind, self.params = name, kind, params
        self.per, self.unit, self.sides, self.what = per, unit, sides, what


# Live objects in the pause trace: ~63 MiB reachable on tricolor (churn
# objects average ~290 slot bytes; the target is "64 MiB live"), with this
# many parked tasks. tricolor's gctrace "live" also counts what was
# allocated during marking (born black), so it reports more.
TRACE_LIVE, TRACE_N, TRACE_TASKS = 231000, 12000000, 1000


def workloads(quick):
    """The rows. quick: smaller sizes for trying the driver out."""
    depths = [16, 18] if quick else [16, 18, 21]
    alloc_n = 2000000 if quick else 10000000
    churn_live, churn_n = 65536, (1000000 if quick else 4000000)
    pingpong_n = 1000000
    rows = []
    for d in depths:
        # stretch tree d+1, long-lived tree d, 2^(d-d'+4) trees of each
        # depth d' = 4, 6, ..., d
        rows.append(Workload(f"binary-trees {d}", "binary_trees", {"depth": d}, 1, "ms",
                             ALL_SIDES, f"Benchmarks Game binary-trees, max depth {d}"))
    rows.append(Workload("GCBench", "gcbench", {"depth": 18}, 1, "ms", ALL_SIDES,
                         "Ellis/Kovac/Boehm GCBench (stretch depth 18, long-lived 16)"))
    for size in (16, 64, 256):
        rows.append(Workload(f"alloc {size} B", "alloc", {"size": size, "n": alloc_n},
                             alloc_n, "ns", ALL_SIDES,
                             f"{alloc_n} pointer-free {size}-byte objects, each live "
                             "in a ring of 256"))
    rows.append(Workload("churn", "churn",
                         {"live": churn_live, "n": churn_n, "tasks": 0},
                         churn_live + churn_n, "ns", ALL_SIDES,
                         f"window of {churn_live} live 16-512 B objects, "
                         f"{churn_n} replacements"))
    rows.append(Workload("yield switch", "yield", {"n": pingpong_n}, 2 * pingpong_n, "ns",
                         TASK_SIDES, f"two tasks yield {pingpong_n} times each; per switch"))
    rows.append(Workload("chan round trip", "chan", {"n": pingpong_n}, pingpong_n, "ns",
                         TASK_SIDES, f"{pingpong_n} round trips over two unbuffered channels"))
    return rows


# ---- running one side -------------------------------------------------------

def command(side, kind, params, bindir, extra_tricolor=()):
    """argv and environment for one run of `kind` on `side`."""
    env = dict(os.environ)
    for var in ("GOGC", "GOMAXPROCS", "GODEBUG", "GOMEMLIMIT", "GC_MARKERS",
                "GC_INITIAL_HEAP_SIZE", "GC_FREE_SPACE_DIVISOR"):
        env.pop(var, None)  # nobody's tuning leaks into a run
    kv = [f"{k}={v}" for k, v in params.items()]
    if side == "tricolor":
        argv = [TRICOLOR_BIN, f"bench=compare.{kind}", "bench_repeats=1",
                "compare_warmup=0", "gctrace=1", "mem=16g"]
        argv += [f"compare_{k}={v}" for k, v in params.items()]
        argv += list(extra_tricolor)
    elif side in ("go1", "go"):
        argv = [os.path.join(bindir, "gowork"), kind] + kv + ["warmup=0"]
        env["GODEBUG"] = "gctrace=1"
        if side == "go1":
            env["GOMAXPROCS"] = "1"
    elif side in ("boehm", "malloc"):
        argv = [os.path.join(bindir, f"{side}work"), kind] + kv + ["warmup=0"]
    else:
        raise ValueError(side)
    return argv, env


def run_process(argv, env, out_path, err_path):
    """Runs argv with stdout/stderr to files; returns (rusage, wall s).
    Fails loudly on a non-zero exit or a run past RUN_TIMEOUT_S."""
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=ROOT)
        while True:
            # wait4, not wait: it returns this child's own rusage (CPU
            # time, peak RSS), which Popen.wait would throw away.
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > RUN_TIMEOUT_S:
                proc.kill()
                os.wait4(proc.pid, 0)
                die(f"timed out after {RUN_TIMEOUT_S} s: {' '.join(argv)}")
            time.sleep(0.02)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(open(err_path).readlines()[-15:] + open(out_path).readlines()[-15:])
        die(f"exit status {proc.returncode}: {' '.join(argv)}\n{tail}")
    return rusage, wall


def die(msg):
    print(f"compare: error: {msg}", file=sys.stderr)
    sys.exit(1)


# gctrace of tricolor: gc 12 @0.345s 4%: 0.003+10.7+0.024 ms clock,
#   4096->4200->2048 KiB, 4096 KiB goal, 7 tasks
TRICOLOR_GC = re.compile(
    r"^gc (\d+) @([\d.]+)s (\d+)%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock, "
    r"(\d+)->(\d+)->(\d+) KiB, (\d+) KiB goal")
# gctrace of Go (1.19): gc 3 @0.045s 7%: 0.018+13+0.11 ms clock, ... ms cpu,
#   21->25->21 MB, 24 MB goal, ...   (MB = MiB)
GO_GC = re.compile(
    r"^gc (\d+) @([\d.]+)s (\d+)%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock, .*? "
    r"(\d+)->(\d+)->(\d+) MB, (\d+) MB goal")
BOEHM_GC = re.compile(r"^boehm-gc (\d+) (\d+)$")
# A run's checksum: "CHECK name N" (Go, C) or "# check compare.name N"
# (tricolor, a comment line in the bench output format).
CHECK_LINE = re.compile(r"^(?:CHECK|# check) \S+ (\d+)$")


def parse_cycles(side, text):
    """GC cycles from a run's output: dicts with t (s), cpu_pct (GC CPU
    since start, %), stw (list of pause ns), mark_ms, start/peak/live/goal
    (bytes)."""
    cycles = []
    if side == "tricolor" or side.startswith("go"):
        pattern, unit = (TRICOLOR_GC, 1024) if side == "tricolor" else (GO_GC, 1 << 20)
        for line in text.splitlines():
            m = pattern.match(line)
            if not m:
                continue
            g = m.groups()
            cycles.append({
                "t": float(g[1]), "cpu_pct": int(g[2]),
                "stw": [round(float(g[3]) * 1e6), round(float(g[5]) * 1e6)],
                "mark_ms": float(g[4]),
                "start": int(g[6]) * unit, "peak": int(g[7]) * unit,
                "live": int(g[8]) * unit, "goal": int(g[9]) * unit,
            })
    elif side == "boehm":
        # Boehm collects with the world stopped: each collection is a pause.
        for line in text.splitlines():
            m = BOEHM_GC.match(line)
            if m:
                cycles.append({"stw": [int(m.group(2))]})
    return cycles


def run_one(side, wl, bindir, logdir, tag, extra_tricolor=()):
    """One run of workload wl on side; returns a dict of what it measured."""
    argv, env = command(side, wl.kind, wl.params, bindir, extra_tricolor)
    base = os.path.join(logdir, f"{tag}-{side}")
    rusage, wall = run_process(argv, env, base + ".out", base + ".err")
    out, err = open(base + ".out").read(), open(base + ".err").read()
    checks, ns = [], None
    for line in out.splitlines():
        f = line.split()
        m = CHECK_LINE.match(line)
        if m:
            checks.append(int(m.group(1)))
        elif side == "tricolor" and len(f) >= 3 and f[0] == "BENCH":
            ns = float(f[2])  # ns per op; one op = one run
        elif side != "tricolor" and len(f) >= 3 and f[0] == "RESULT":
            ns = float(f[2])
    if ns is None or len(checks) != 1:
        die(f"{side} {wl.name}: expected one CHECK and one timing in {base}.out")
    text = out + "\n" + err
    cycles = parse_cycles(side, text)
    # Workloads that allocate hundreds of MiB collect on every GC side; no
    # cycle parsed means the trace format changed, not that none ran.
    if side in GC_SIDES and wl.kind in ("binary_trees", "gcbench", "churn") and not cycles:
        die(f"{side} {wl.name}: no GC cycles found in {base}.out/.err "
            "(has the gctrace format changed? see TRICOLOR_GC / GO_GC)")
    boehm_markers = None
    m = re.search(r"boehm-info .*markers=(\d+)", err)
    if m:
        boehm_markers = int(m.group(1))
    return {
        "ns": ns, "check": checks[0], "cycles": cycles,
        "cpu_s": rusage.ru_utime + rusage.ru_stime, "wall_s": wall,
        "maxrss_kib": rusage.ru_maxrss, "boehm_markers": boehm_markers,
        "argv": " ".join(argv), "log": base,
    }


# ---- statistics -------------------------------------------------------------

def percentile(values, p):
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def median(values):
    return statistics.median(values) if values else None


def pauses_ns(runs):
    return [p for r in runs for c in r["cycles"] for p in c["stw"]]


def fmt_time(v, unit):
    if v is None:
        return "-"
    return f"{v:,.0f}" if unit == "ms" or v >= 100 else f"{v:.1f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def fmt_us(ns):
    return "-" if ns is None else (f"{ns / 1000:.1f}" if ns < 100000 else f"{ns / 1000:,.0f}")


# ---- machine ----------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def machine_info(bindir):
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mhz = sh("grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "cpu": f"{model} ({mhz} MHz)" if mhz else model,
        "cores": os.cpu_count(),
        "memory": sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"),
        "kernel": f"{platform.system()} {platform.release()}",
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "go": sh("go version"),
        "gcc": sh("gcc --version | head -1"),
        "glibc": sh("ldd --version | head -1"),
        "libgc": "libgc " + sh("dpkg-query -W -f='${Version}' libgc-dev 2>/dev/null"),
        "tree": sh("git rev-parse --short HEAD") + (" (with uncommitted changes)"
                                                    if sh("git status --porcelain") else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def loadavg():
    return open("/proc/loadavg").read().split()[0]


# ---- the trace run ------------------------------------------------------------

def trace_workload():
    return Workload("churn 64 MiB, 1000 tasks", "churn",
                    {"live": TRACE_LIVE, "n": TRACE_N, "tasks": TRACE_TASKS},
                    TRACE_LIVE + TRACE_N, "ns", TASK_SIDES,
                    f"window of {TRACE_LIVE} live objects (~63 MiB reachable), {TRACE_N} "
                    f"replacements, {TRACE_TASKS} parked tasks")


def run_trace(bindir, outdir):
    """The pause / heap trace: tricolor with GCSAMPLE lines, and Go."""
    tdir = os.path.join(outdir, "trace")
    os.makedirs(tdir, exist_ok=True)
    wl = trace_workload()
    results = {}
    for side in TASK_SIDES:
        print(f"  trace: {side} {wl.what}", flush=True)
        results[side] = run_one(side, wl, bindir, tdir, "trace",
                                extra_tricolor=["compare_sample=1"])
    checks = {r["check"] for r in results.values()}
    if len(checks) != 1:
        die(f"trace run: checksums differ: "
            + ", ".join(f"{s}={r['check']}" for s, r in results.items()))
    return wl, results


def trace_summary(results):
    """Per side: pauses, peak/live in steady state, live heap."""
    summary = {}
    for side, r in results.items():
        cycles = r["cycles"]
        p = pauses_ns([r])
        # Steady state: cycles whose goal was set from a live heap within
        # 10% of the largest (the window has filled).
        max_live = max((c["live"] for c in cycles), default=0)
        ratios = [cur["peak"] / prev["live"] for prev, cur in zip(cycles, cycles[1:])
                  if prev["live"] >= 0.9 * max_live and prev["live"] > 0]
        summary[side] = {
            "cycles": len(cycles), "pauses": len(p),
            "stw_max_ns": max(p) if p else None, "stw_p99_ns": percentile(p, 99),
            "stw_p50_ns": percentile(p, 50),
            "live_mib": max_live / 2**20,
            "peak_over_live_max": max(ratios) if ratios else None,
            "peak_over_live_median": median(ratios),
            "gc_cpu_pct": cycles[-1]["cpu_pct"] if cycles else None,
            "ns_per_item": r["ns"] / (TRACE_LIVE + TRACE_N),
            "maxrss_mib": r["maxrss_kib"] / 1024,
        }
    return summary


# ---- the comparison -------------------------------------------------------------

def fast_path_benches(outdir, tag):
    """tricolor's allocator and switch micro-benchmarks (tests/mm_bench.c,
    tests/sched_bench.c, glibc malloc beside them): the medians of 7."""
    names = "mm.alloc_16,mm.alloc_typed_16,malloc.alloc_16,sched.yield_switch"
    argv = [TRICOLOR_BIN, f"bench={names}"]
    base = os.path.join(outdir, "logs", f"{tag}-micro")
    run_process(argv, dict(os.environ), base + ".out", base + ".err")
    vals = {}
    for line in open(base + ".out"):
        f = line.split()
        if len(f) >= 3 and f[0] == "BENCH":
            vals[f[1]] = float(f[2])
    if set(vals) != set(names.split(",")):
        die(f"micro-benchmarks: expected {names}, got {sorted(vals)} ({base}.out)")
    return vals


def run_compare(args):
    bindir = os.path.join(ROOT, "build", "compare")
    outdir = os.path.abspath(args.out)
    need = [TRICOLOR_BIN] + [os.path.join(bindir, b) for b in ("gowork", "boehmwork", "mallocwork")]
    for path in need:
        if not os.access(path, os.X_OK):
            die(f"missing {path}: build with `make compare`")
    logdir = os.path.join(outdir, "logs")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    rows = workloads(args.quick)
    started = time.monotonic()
    machine = machine_info(bindir)
    machine["load_before"] = loadavg()
    print(f"compare: {len(rows)} workloads x up to {len(ALL_SIDES)} sides x "
          f"{args.repeats} repeats, interleaved (load average {machine['load_before']})",
          flush=True)

    runs = {wl.name: {s: [] for s in wl.sides} for wl in rows}
    micro = []
    for rep in range(args.repeats):
        for wl in rows:
            line = [f"  [{rep + 1}/{args.repeats}] {wl.name:<16}"]
            for side in wl.sides:
                tag = f"r{rep + 1}-{wl.kind}-" + "-".join(str(v) for v in wl.params.values())
                r = run_one(side, wl, bindir, logdir, tag)
                runs[wl.name][side].append(r)
                line.append(f"{side} {fmt_time(r['ns'] / wl.per / (1e6 if wl.unit == 'ms' else 1), wl.unit)}")
            print("  ".join(line) + f" {wl.unit}", flush=True)
        micro.append(fast_path_benches(outdir, f"r{rep + 1}"))

    # Every side and repeat of a workload must have done the same work.
    for wl in rows:
        checks = {(s, r["check"]) for s, rs in runs[wl.name].items() for r in rs}
        if len({c for _, c in checks}) != 1:
            die(f"{wl.name}: checksums differ: {sorted(checks)}")

    print("  trace run (pauses at ~63 MiB reachable, 1000 tasks; plots)", flush=True)
    twl, tres = run_trace(bindir, outdir)
    tsum = trace_summary(tres)
    machine["load_after"] = loadavg()
    machine["duration_s"] = round(time.monotonic() - started)
    # tricolor runs on one thread: CPU time / wall time below 100% means
    # other processes took the CPU from it (all sides suffer alike, but the
    # wall-clock figures are then less exact).
    shares = [r["cpu_s"] / r["wall_s"] for wl in rows for r in runs[wl.name]["tricolor"]]
    machine["tricolor_cpu_share"] = f"{100 * median(shares):.0f}% (min {100 * min(shares):.0f}%)"

    result = summarize(rows, runs, micro, twl, tsum, machine, args)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    report = render(result)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(report)
    print()
    print(report)


def summarize(rows, runs, micro, twl, tsum, machine, args):
    table = []
    for wl in rows:
        row = {"name": wl.name, "what": wl.what, "unit": wl.unit, "sides": {}}
        scale = wl.per * (1e6 if wl.unit == "ms" else 1)
        for side, rs in runs[wl.name].items():
            p = pauses_ns(rs)
            row["sides"][side] = {
                "value": median([r["ns"] / scale for r in rs]),
                "min": min(r["ns"] / scale for r in rs),
                "max": max(r["ns"] / scale for r in rs),
                "cpu_s": median([r["cpu_s"] for r in rs]),
                "maxrss_mib": median([r["maxrss_kib"] / 1024 for r in rs]),
                "collections": median([len(r["cycles"]) for r in rs]),
                "stw_max_ns": max(p) if p else None,
                "stw_p99_ns": percentile(p, 99),
                "boehm_markers": rs[0]["boehm_markers"],
                "check": rs[0]["check"],
                "n": len(rs),
            }
        table.append(row)
    micro_med = {k: median([m[k] for m in micro]) for k in micro[0]}
    return {"machine": machine, "repeats": args.repeats, "quick": args.quick,
            "table": table, "micro": micro_med,
            "trace": {"what": twl.what, "sides": tsum}}


# ---- the report -----------------------------------------------------------------

def render(res):
    m = res["machine"]
    out = []
    w = out.append
    w("## Machine\n")
    for k in ("cpu", "cores", "memory", "os", "kernel", "go", "gcc", "glibc", "libgc",
              "tree", "date"):
        w(f"- {k}: {m[k]}")
    w(f"- load average before / after: {m['load_before']} / {m['load_after']} "
      f"(other processes on the machine skew wall-clock times)")
    w(f"- CPU share of the single-threaded tricolor runs (CPU / wall time, median): "
      f"{m['tricolor_cpu_share']}; 100% = a core to itself")
    w(f"- `make compare` driver time: {m['duration_s']} s, {res['repeats']} repeats"
      + (" (QUICK)" if res["quick"] else ""))
    boehm = [r["sides"]["boehm"]["boehm_markers"] for r in res["table"] if "boehm" in r["sides"]]
    if boehm:
        w(f"- Boehm marker threads: {boehm[0]}")
    w("")
    w("## Time (median of the repeats; ratios < 1: tricolor is faster)\n")
    w("| workload | unit | tricolor | Go P=1 | Go P=N | Boehm | malloc "
      "| t/Go P=1 | t/Go P=N | t/Boehm | t/malloc |")
    w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in res["table"]:
        s = r["sides"]
        v = {k: s[k]["value"] if k in s else None for k in ALL_SIDES}
        unit = "ms/run" if r["unit"] == "ms" else "ns/item"
        w(f"| {r['name']} | {unit} | " + " | ".join(fmt_time(v[k], r["unit"]) for k in ALL_SIDES)
          + " | " + " | ".join(fmt_ratio(v["tricolor"], v[k]) for k in ALL_SIDES[1:]) + " |")
    w("")
    w("## CPU time and memory (median per run: user+sys seconds of the whole process; "
      "peak RSS MiB)\n")
    w("| workload | tricolor | Go P=1 | Go P=N | Boehm | malloc |")
    w("|---|--:|--:|--:|--:|--:|")
    for r in res["table"]:
        s = r["sides"]
        cells = [(f"{s[k]['cpu_s']:.2f} s, {s[k]['maxrss_mib']:.0f} MiB" if k in s else "-")
                 for k in ALL_SIDES]
        w(f"| {r['name']} | " + " | ".join(cells) + " |")
    w("")
    w("## CPU-time ratios (tricolor / other, of the medians above)\n")
    w("Less disturbed than wall time when other processes share the machine. For Go P=N")
    w("it compares against all of Go's CPU, its parallel GC workers included.\n")
    w("| workload | t/Go P=1 | t/Go P=N | t/Boehm | t/malloc |")
    w("|---|--:|--:|--:|--:|")
    for r in res["table"]:
        s = r["sides"]
        w(f"| {r['name']} | " + " | ".join(
            fmt_ratio(s["tricolor"]["cpu_s"], s[k]["cpu_s"]) if k in s else "-"
            for k in ALL_SIDES[1:]) + " |")
    w("")
    w("## GC pauses over all repeats (stop-the-world, µs: max / p99; collections per run)\n")
    w("| workload | tricolor | Go P=1 | Go P=N | Boehm |")
    w("|---|--:|--:|--:|--:|")
    for r in res["table"]:
        s = r["sides"]
        cells = []
        for k in GC_SIDES:
            if k not in s or s[k]["stw_max_ns"] is None:
                cells.append("-")
            else:
                cells.append(f"{fmt_us(s[k]['stw_max_ns'])} / {fmt_us(s[k]['stw_p99_ns'])}"
                             f" ({s[k]['collections']:.0f})")
        w(f"| {r['name']} | " + " | ".join(cells) + " |")
    w("")
    t = res["trace"]
    w(f"## Trace run: {t['what']}\n")
    w("| side | live MiB | cycles | STW max µs | STW p99 µs | STW p50 µs "
      "| peak/live max | peak/live median | GC CPU % | ns/item |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    names = {"tricolor": "tricolor", "go1": "Go P=1", "go": "Go P=N"}
    for side, s in t["sides"].items():
        pol = (f"{s['peak_over_live_max']:.2f}" if s["peak_over_live_max"] else "-")
        polm = (f"{s['peak_over_live_median']:.2f}" if s["peak_over_live_median"] else "-")
        w(f"| {names[side]} | {s['live_mib']:.1f} | {s['cycles']} | {fmt_us(s['stw_max_ns'])} "
          f"| {fmt_us(s['stw_p99_ns'])} | {fmt_us(s['stw_p50_ns'])} | {pol} | {polm} "
          f"| {s['gc_cpu_pct']} | {s['ns_per_item']:.0f} |")
    w("")
    w("## Targets\n")
    w("| target | measured | met |")
    w("|---|---|---|")
    for target, measured, ok in targets(res):
        w(f"| {target} | {measured} | {'yes' if ok else '**no**'} |")
    w("")
    return "\n".join(out)


def targets(res):
    """(target, measured, met) for each speed and memory target (README) that this run
    measures."""
    rows = []
    by_name = {r["name"]: r for r in res["table"]}
    deepest = max((r for r in res["table"] if r["name"].startswith("binary-trees")),
                  key=lambda r: int(r["name"].split()[-1]))
    s = deepest["sides"]
    for other, label in (("go1", "Go GOMAXPROCS=1"), ("boehm", "Boehm")):
        ratio = s["tricolor"]["value"] / s[other]["value"]
        rows.append((f"{deepest['name']}: tricolor <= 0.8 x {label}",
                     f"{ratio:.2f} x ({s['tricolor']['value']:,.0f} vs "
                     f"{s[other]['value']:,.0f} ms)", ratio <= 0.8))
    mi = res["micro"]
    rows.append(("16-byte allocation fast path <= 8 ns",
                 f"{mi['mm.alloc_16']:.2f} ns noscan, {mi['mm.alloc_typed_16']:.2f} ns typed "
                 f"(glibc malloc {mi['malloc.alloc_16']:.2f} ns)",
                 mi["mm.alloc_16"] <= 8))
    tr = res["trace"]["sides"]["tricolor"]
    rows.append((f"STW max <= 50 µs at 64 MiB live, 1000 tasks",
                 f"{fmt_us(tr['stw_max_ns'])} µs ({tr['pauses']} pauses; live "
                 f"{tr['live_mib']:.1f} MiB by gctrace, born-black objects included)",
                 tr["stw_max_ns"] <= 50000))
    rows.append((f"STW p99 <= 20 µs at 64 MiB live, 1000 tasks",
                 f"{fmt_us(tr['stw_p99_ns'])} µs", tr["stw_p99_ns"] <= 20000))
    y = by_name["yield switch"]["sides"]["tricolor"]["value"]
    rows.append(("yield switch <= 100 ns",
                 f"{y:.1f} ns (compare.yield); {mi['sched.yield_switch']:.1f} ns "
                 "(sched.yield_switch)", max(y, mi["sched.yield_switch"]) <= 100))
    pol = tr["peak_over_live_max"]
    rows.append(("peak heap <= 2 x live at gogc=100",
                 f"{pol:.2f} x at most (median {tr['peak_over_live_median']:.2f} x), "
                 "steady-state cycles of the trace run", pol <= 2.0))
    return rows


# ---- plot data -----------------------------------------------------------------------

GCSAMPLE = re.compile(r"^GCSAMPLE (.*)$")


def plot_data(args):
    """OUT/trace/*.out|err -> PLOTS/*.dat for tools/compare/plots.gp."""
    tdir = os.path.join(os.path.abspath(args.out), "trace")
    pdir = os.path.abspath(args.plots)
    os.makedirs(pdir, exist_ok=True)
    texts = {}
    for side in TASK_SIDES:
        base = os.path.join(tdir, f"trace-{side}")
        if not os.path.exists(base + ".out"):
            die(f"no trace run in {tdir}: run `make plots` (or `make compare`) first")
        texts[side] = open(base + ".out").read() + "\n" + open(base + ".err").read()

    # 1. STW pause distribution: sorted pauses and their cumulative share.
    for side, text in texts.items():
        p = sorted(pauses_ns([{"cycles": parse_cycles(side, text)}]))
        if not p:
            die(f"trace-{side}: no gctrace lines")
        with open(os.path.join(pdir, f"pauses-{side}.dat"), "w") as f:
            f.write("# pause_us cumulative_fraction\n")
            for i, v in enumerate(p):
                # a pause reported as 0 (below the trace's 1 µs resolution)
                # is drawn at 0.5 µs: a log axis has no 0
                f.write(f"{max(v, 500) / 1000:.3f} {(i + 1) / len(p):.4f}\n")

    # 2. Heap over time (tricolor's GCSAMPLE lines) and per-cycle points.
    samples = []
    for line in texts["tricolor"].splitlines():
        m = GCSAMPLE.match(line)
        if m:
            samples.append({k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())})
    if len(samples) < 10:
        die("trace-tricolor: too few GCSAMPLE lines to plot")
    t0 = samples[0]["t_ns"]
    mib = 2**20
    with open(os.path.join(pdir, "heap.dat"), "w") as f:
        f.write("# t_s in_use_MiB goal_MiB trigger_MiB live_MiB\n")
        for s in samples:
            f.write(f"{(s['t_ns'] - t0) / 1e9:.4f} {s['in_use'] / mib:.2f} {s['goal'] / mib:.2f} "
                    f"{s['trigger'] / mib:.2f} {s['live'] / mib:.2f}\n")
    # gctrace times count from boot; GCSAMPLE's too (arch_nanotime), so
    # the two line up on the same axis after subtracting t0.
    with open(os.path.join(pdir, "cycles.dat"), "w") as f:
        f.write("# t_s start_MiB peak_MiB live_MiB goal_MiB\n")
        for c in parse_cycles("tricolor", texts["tricolor"]):
            f.write(f"{c['t'] - t0 / 1e9:.4f} {c['start'] / mib:.2f} {c['peak'] / mib:.2f} "
                    f"{c['live'] / mib:.2f} {c['goal'] / mib:.2f}\n")

    # 3. GC CPU over time: the share of the last 50 ms spent in GC
    # (worker, assists, sweeper, pauses), and since the start.
    window_ns = 50_000_000
    with open(os.path.join(pdir, "gccpu.dat"), "w") as f:
        f.write("# t_s gc_cpu_pct_last_50ms gc_cpu_pct_since_start\n")
        j = 0
        for s in samples:
            while samples[j]["t_ns"] < s["t_ns"] - window_ns:
                j += 1
            a = samples[j]
            dt = s["t_ns"] - a["t_ns"]
            if dt < window_ns // 2:
                continue  # too short a window yet
            recent = 100 * (s["gc_cpu_ns"] - a["gc_cpu_ns"]) / dt
            total = 100 * s["gc_cpu_ns"] / s["t_ns"]
            f.write(f"{(s['t_ns'] - t0) / 1e9:.4f} {recent:.2f} {total:.2f}\n")
    print(f"plot data in {pdir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="the comparison (and the trace run)")
    r.add_argument("--out", default=os.path.join(ROOT, "build", "compare"))
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--quick", action="store_true", help="smaller workloads, to try it out")
    t = sub.add_parser("trace", help="the pause / heap trace run only")
    t.add_argument("--out", default=os.path.join(ROOT, "build", "compare"))
    rep = sub.add_parser("report", help="results.json -> results.md and stdout, no runs")
    rep.add_argument("--out", default=os.path.join(ROOT, "build", "compare"))
    p = sub.add_parser("plotdata", help="trace logs -> .dat files for plots.gp")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "compare"))
    p.add_argument("--plots", default=os.path.join(ROOT, "build", "plots"))
    args = ap.parse_args()
    if args.cmd == "run":
        if args.repeats < 1:
            die("--repeats must be at least 1")
        run_compare(args)
    elif args.cmd == "trace":
        _, res = run_trace(os.path.join(ROOT, "build", "compare"), os.path.abspath(args.out))
        for side, s in trace_summary(res).items():
            print(f"  {side}: STW max {fmt_us(s['stw_max_ns'])} µs, p99 "
                  f"{fmt_us(s['stw_p99_ns'])} µs, live {s['live_mib']:.1f} MiB")
    elif args.cmd == "report":
        path = os.path.join(os.path.abspath(args.out), "results.json")
        if not os.path.exists(path):
            die(f"no {path}: run `make compare` first")
        report = render(json.load(open(path)))
        with open(os.path.join(os.path.abspath(args.out), "results.md"), "w") as f:
            f.write(report)
        print(report)
    else:
        plot_data(args)


if __name__ == "__main__":
    main()
