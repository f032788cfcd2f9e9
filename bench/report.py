#!/usr/bin/env python3
"""The arithmetic and the report of bench/run, from the raw records it writes (one JSON per line).

    bench/report.py machine RECORDS          # the header: machine and settings
    bench/report.py case RECORDS             # one line for the last wrk case recorded
    bench/report.py report RECORDS [--json OUT] [--markdown]
                                             # every figure and its ratio to the targets

Record kinds: `machine` (cores, clock ticks, versions, knobs), `criterion` (the path of an
estimates.json), `jti_memory` (the path of the bench's output), `wrk` (one case: walk.lua's
summary and the server's CPU ticks over it), `slow_downloads` (RSS before and while in flight).
Standard library only, so bench/run needs nothing beyond python3.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLIENT_BOUND_CORES = 0.5  # a peer using less was waiting on wrk, which shares the machine
BUSY_LOAD = 1.0  # a 1-minute load average from this up before the run: others were running


@dataclass(frozen=True)
class Case:
    """One wrk run against one server."""

    name: str
    requests: int
    duration_us: int
    bytes: int
    non2xx: int
    connect_errors: int
    read_errors: int
    timeouts: int
    p50_us: int
    p99_us: int
    server_cpu_ticks: int
    clk_tck: int
    # A process behind the one wrk talks to (the download server behind nginx in hand-off mode,
    # the redis-server behind a download server).
    behind_cpu_ticks: int = 0
    # wrk's own CPU over the load, user + system (0 in records from before walk.lua measured it).
    client_cpu_us: int = 0

    @property
    def seconds(self) -> float:
        return self.duration_us / 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9

    @property
    def cores(self) -> float:
        """Server CPU over the run (user + system, every thread and worker), in cores."""
        return self.server_cpu_ticks / self.clk_tck / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.us_per_request(self.cores)

    @property
    def behind_cores(self) -> float:
        return self.behind_cpu_ticks / self.clk_tck / self.seconds

    @property
    def client_cores(self) -> float:
        return self.client_cpu_us / 1e6 / self.seconds

    @property
    def machine_cores(self) -> float:
        """What the case used of the machine: server, the process behind it, and wrk."""
        return self.cores + self.behind_cores + self.client_cores

    def us_per_request(self, cores: float) -> float:
        """Microseconds of CPU per request that `cores` (busy over the whole case) stand for."""
        return cores / self.rps * 1e6

    @property
    def client_bound(self) -> bool:
        return self.cores < CLIENT_BOUND_CORES

    def summary(self) -> dict:
        return {
            **asdict(self),
            "rps": round(self.rps, 1),
            "gbps": round(self.gbps, 4),
            "server_cores": round(self.cores, 3),
            "cpu_us_per_request": round(self.cpu_us_per_request, 2),
            "client_cores": round(self.client_cores, 3),
        }


@dataclass(frozen=True)
class Target:
    """A goal the run is measured against, named in words."""

    name: str
    comparison: str  # ">=" or "<="
    threshold: float
    measured: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        if self.comparison == ">=":
            return self.measured >= self.threshold
        return self.measured <= self.threshold

    @property
    def label(self) -> str:
        return f"{self.name} {self.comparison} {self.threshold:g}{self.unit}"

    def verdict(self) -> str:
        return f"{self.label}: {'met' if self.met else 'MISSED'}"

    def summary(self) -> dict:
        return {**asdict(self), "met": self.met}


@dataclass
class Run:
    machine: dict
    cases: dict[str, Case] = field(default_factory=dict)
    criterion: dict[str, Path] = field(default_factory=dict)
    jti_output: Path | None = None
    slow: dict | None = None

    def case(self, name: str) -> Case:
        try:
            return self.cases[name]
        except KeyError:
            sys.exit(f"report: no wrk record for case {name!r} (did bench/run stop early?)")


def load(path: Path) -> Run:
    run = None
    pending = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            sys.exit(f"report: {path}:{number}: not JSON ({error})")
        if record["kind"] == "machine":
            run = Run(machine={k: v for k, v in record.items() if k != "kind"})
        else:
            pending.append(record)
    if run is None:
        sys.exit(f"report: {path} has no machine record")
    for record in pending:
        kind = record["kind"]
        if kind == "wrk":
            wrk = record["wrk"]
            run.cases[record["case"]] = Case(
                name=record["case"],
                server_cpu_ticks=record["server_cpu_ticks"],
                behind_cpu_ticks=record.get("behind_cpu_ticks", 0),
                clk_tck=run.machine["clk_tck"],
                **wrk,
            )
        elif kind == "criterion":
            run.criterion[record["bench"]] = Path(record["estimates"])
        elif kind == "jti_memory":
            run.jti_output = Path(record["output"])
        elif kind == "slow_downloads":
            run.slow = record
    return run


def criterion_mean_ns(path: Path) -> float:
    try:
        return json.loads(path.read_text())["mean"]["point_estimate"]
    except FileNotFoundError:
        sys.exit(f"report: {path} is missing (run without BENCH_SKIP_CRITERION=1 once)")


def jti_figures(path: Path) -> dict[str, float]:
    """The `JTI_MEMORY key=value ...` and `GRANT_MEMORY key=value ...` lines the jti_memory bench
    prints (the second one's keys prefixed `grant_`)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        sys.exit(f"report: {path} is missing (run without BENCH_SKIP_CRITERION=1 once)")
    figures: dict[str, float] = {}
    for line in lines:
        for marker, prefix in (("JTI_MEMORY ", ""), ("GRANT_MEMORY ", "grant_")):
            if line.startswith(marker):
                pairs = (item.split("=", 1) for item in line.split()[1:])
                figures.update({prefix + key: float(value) for key, value in pairs})
    if "bytes_per_jti" not in figures:
        sys.exit(f"report: no JTI_MEMORY line in {path}")
    return figures


def batch_figures(run: Run) -> dict:
    """Per-signature costs of the verify_batch and verify_batched_requests criterion benches (their
    throughput is per signature, so the mean per iteration is divided by n)."""
    if "verify_batch/single" not in run.criterion:
        return {}
    sizes = [1, 2, 4, 8, 16, 32, 64]
    figures = {
        "single_us": criterion_mean_ns(run.criterion["verify_batch/single"]) / 1000,
        "batch_us": {n: criterion_mean_ns(run.criterion[f"verify_batch/{n}"]) / 1000 / n for n in sizes},
        "requests_us": {n: criterion_mean_ns(run.criterion[f"verify_batched_requests/{n}"]) / 1000 / n
                        for n in sizes if f"verify_batched_requests/{n}" in run.criterion},
    }
    if "verify/ed25519_signature_only_aws_lc" in run.criterion:
        figures["aws_lc_single_per_s"] = 1e9 / criterion_mean_ns(
            run.criterion["verify/ed25519_signature_only_aws_lc"])
    return figures


def ds_connections(run: Run) -> int:
    return run.machine["connections"]


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def bound_note(case: Case) -> str:
    if case.client_bound:
        return f"client-bound: {case.name} used {case.cores:.2f} cores"
    return ""


def versus_nginx(name: str, ours: float, nginx: Case, context: str, gbps: bool = False) -> Target:
    """Ours against nginx's figure (req/s, or GB/s), noting when nginx waited on the client."""
    theirs = nginx.gbps if gbps else nginx.rps
    note = "; ".join(filter(None, [context, bound_note(nginx)]))
    return Target(name, ">=", 0.8, ratio(ours, theirs), note=note)


def client_bound_suffix(case: Case) -> str:
    return f" [{bound_note(case)}]" if case.client_bound else ""


def print_machine(run: Run) -> None:
    m = run.machine
    print()
    print(f"machine: {m['cores']} cores, {m['nginx']}, {m['wrk']} (commit {m['commit']})")
    print(f"wrk: {m['duration_s']}s per case, {m['connections']} connections for small and 1 MiB files;"
          " server CPU is")
    print("     measured from /proc (user + system, all threads and worker processes)")
    print(f"download-server: --read-chunk {m['read_chunk']}, log at info to a file;"
          " nginx: sendfile, access log to a file")
    if "loadavg_start" in m:
        print(f"load average (1 min) at the start: {m['loadavg_start']}")


def case_line(case: Case) -> str:
    return (f"{case.name:<28} {case.rps:9.0f} req/s {case.gbps:8.3f} GB/s  server CPU "
            f"{case.cores:5.2f} cores  wrk {case.client_cores:4.2f} cores  p50 {case.p50_us:6d} us"
            f"  p99 {case.p99_us:7d} us  non-2xx {case.non2xx}")


def report(run: Run) -> tuple[list[str], dict]:
    """Every figure as printed lines, and the same figures as a JSON-ready dict."""
    out: list[str] = []
    targets: list[Target] = []
    cores = run.machine["cores"]

    verify_ns = criterion_mean_ns(run.criterion["verify/server_path"])
    signature_ns = criterion_mean_ns(run.criterion["verify/ed25519_signature_only"])
    verify_per_s = 1e9 / verify_ns
    verify_us = verify_ns / 1000
    out.append(f"crypto limit: {verify_per_s:.0f} verify/s on one core through Verifier"
               f" ({verify_us:.1f} us); bare Ed25519 {1e9 / signature_ns:.0f}/s")
    batch = batch_figures(run)
    if batch:
        if "aws_lc_single_per_s" in batch:
            out.append(f"  (aws-lc-rs, the single check used before: {batch['aws_lc_single_per_s']:.0f}/s)")
        out.append("  batch verify, same key, per signature (criterion verify_batch; speed-up vs one"
                   " at a time):")
        out.append("    " + "  ".join(f"{n}: {us:.1f} us ({batch['single_us'] / us:.2f}x)"
                                      for n, us in batch["batch_us"].items()))
        if batch["requests_us"]:
            out.append("  through the per-worker batcher, n concurrent Verifier::verify calls, per token:")
            out.append("    " + "  ".join(f"{n}: {us:.1f} us" for n, us in batch["requests_us"].items()))
    out.append("")

    per_workers = []
    for w in sorted({1, cores}):
        ds = run.case(f"ds_1k_w{w}")
        static, secure = run.case(f"nginx_static_1k_w{w}"), run.case(f"nginx_secure_1k_w{w}")
        healthz = run.case(f"ds_healthz_w{w}")
        efficiency = Target("1 KiB efficiency", ">=", 1.0,
                            ratio(ds.rps, verify_per_s * ds.cores), note=f"{w} worker(s)")
        targets.append(efficiency)
        single = run.cases.get(f"ds_1k_w{w}_single")
        # CPU per request = signature + everything beside it. The ceilings: the best efficiency
        # a server can reach whose work beside the signature costs what /healthz costs here, or
        # what nginx's whole secure_link request costs (loopback TCP, wake-ups, parse, open, log).
        ceiling_floor = verify_us / (verify_us + healthz.cpu_us_per_request)
        ceiling_nginx = verify_us / (verify_us + secure.cpu_us_per_request)
        out.append(f"1 KiB, {w} worker(s): download-server {ds.rps:.0f} req/s on {ds.cores:.2f} cores;"
                   f" nginx static {static.rps:.0f}, secure_link {secure.rps:.0f}")
        out.append(f"  req/s / (verify/s x cores used) = {efficiency.measured:.2f} ({efficiency.verdict()});"
                   f" per worker: {ratio(ds.rps, verify_per_s * w):.2f}")
        out.append(f"  vs nginx static {ratio(ds.rps, static.rps):.2f},"
                   f" vs secure_link {ratio(ds.rps, secure.rps):.2f}")
        out.append(f"  latency at c{ds_connections(run)}: download-server p50 {ds.p50_us} us, p99 {ds.p99_us} us;"
                   f" nginx static p50 {static.p50_us} us, p99 {static.p99_us} us;"
                   f" secure_link p50 {secure.p50_us} us, p99 {secure.p99_us} us")
        if single:
            p99 = Target("1 KiB p99, batched vs each signature alone", "<=", 1.0,
                         ratio(ds.p99_us, single.p99_us), note=f"{w} worker(s)")
            targets.append(p99)
            out.append(f"  each signature alone (--verify-batch 1): {single.rps:.0f} req/s on"
                       f" {single.cores:.2f} cores, efficiency {ratio(single.rps, verify_per_s * single.cores):.2f},"
                       f" p50 {single.p50_us} us, p99 {single.p99_us} us;"
                       f" batching gains {ratio(ds.rps, single.rps):.2f}x req/s,"
                       f" {ratio(single.cpu_us_per_request, ds.cpu_us_per_request):.2f}x less CPU per request")
            out.append(f"  p99 batched / alone = {p99.measured:.2f} ({p99.verdict()})")
        out.append(f"  CPU per request: download-server {ds.cpu_us_per_request:.1f} us"
                   f" ({verify_us:.1f} us signature + {ds.cpu_us_per_request - verify_us:.1f} us"
                   f" beside it); nginx secure_link {secure.cpu_us_per_request:.1f} us in all")
        out.append(f"  /healthz through the same server: {healthz.rps:.0f} req/s,"
                   f" {healthz.cpu_us_per_request:.1f} us of CPU per request")
        out.append(f"  ceilings for the 1 KiB efficiency with only that much beside the signature:"
                   f" {ceiling_floor:.2f} (this server's floor),"
                   f" {ceiling_nginx:.2f} (nginx's whole secure_link request)")

        ds_m, nginx_m = run.case(f"ds_1m_w{w}"), run.case(f"nginx_static_1m_w{w}")
        medium = versus_nginx("1 MiB req/s vs nginx static", ds_m.rps, nginx_m, f"{w} worker(s)")
        targets.append(medium)
        out.append(f"1 MiB, {w} worker(s): download-server {ds_m.rps:.0f} req/s ({ds_m.gbps:.3f} GB/s),"
                   f" nginx static {nginx_m.rps:.0f} ({nginx_m.gbps:.3f} GB/s)")
        out.append(f"  ratio {medium.measured:.2f} ({medium.verdict()}){client_bound_suffix(nginx_m)}")
        out.append(f"  CPU per 1 MiB response: download-server {ds_m.cpu_us_per_request:.0f} us,"
                   f" nginx {nginx_m.cpu_us_per_request:.0f} us (sendfile: no copy through user space)")
        hand_1k, hand_1m = run.case(f"handoff_1k_w{w}"), run.case(f"handoff_1m_w{w}")
        handoff = Target("1 MiB req/s, nginx hand-off vs nginx static", ">=", 0.9,
                         ratio(hand_1m.rps, nginx_m.rps), note=f"{w} worker(s)")
        targets.append(handoff)
        share_1k = ratio(hand_1k.behind_cpu_ticks, hand_1k.behind_cpu_ticks + hand_1k.server_cpu_ticks)
        share_1m = ratio(hand_1m.behind_cpu_ticks, hand_1m.behind_cpu_ticks + hand_1m.server_cpu_ticks)
        out.append(f"nginx in front, hand-off mode, {w} worker(s) each: 1 MiB {hand_1m.rps:.0f} req/s"
                   f" vs nginx static {nginx_m.rps:.0f}: {handoff.measured:.2f} ({handoff.verdict()})")
        out.append(f"  1 KiB {hand_1k.rps:.0f} req/s (vs nginx static {ratio(hand_1k.rps, static.rps):.2f},"
                   f" vs the download server alone {ratio(hand_1k.rps, ds.rps):.2f});"
                   f" share of CPU in the download server: 1 KiB {share_1k:.2f}, 1 MiB {share_1m:.2f}")
        per_workers.append({
            "handoff_1m_vs_nginx_static": handoff.measured,
            "handoff_1k_rps": hand_1k.rps,
            "handoff_1k_vs_nginx_static": ratio(hand_1k.rps, static.rps),
            "handoff_1k_download_server_cpu_share": share_1k,
            "handoff_1m_download_server_cpu_share": share_1m,
            "workers": w,
            "efficiency_1k": efficiency.measured,
            "efficiency_1k_per_worker": ratio(ds.rps, verify_per_s * w),
            "vs_nginx_static_1k": ratio(ds.rps, static.rps),
            "vs_nginx_secure_link_1k": ratio(ds.rps, secure.rps),
            "cpu_us_per_request_1k": ds.cpu_us_per_request,
            "cpu_us_beside_signature_1k": ds.cpu_us_per_request - verify_us,
            "nginx_secure_link_cpu_us_per_request": secure.cpu_us_per_request,
            "healthz_cpu_us_per_request": healthz.cpu_us_per_request,
            "ceiling_with_healthz_floor": ceiling_floor,
            "ceiling_with_nginx_secure_link": ceiling_nginx,
            "vs_nginx_static_1m": medium.measured,
            "cpu_us_per_1m_response": ds_m.cpu_us_per_request,
            "nginx_cpu_us_per_1m_response": nginx_m.cpu_us_per_request,
        })

    if "ds_1k_pinned" in run.cases:
        ds, static = run.case("ds_1k_pinned"), run.case("nginx_static_1k_pinned")
        ds_m, nginx_m = run.case("ds_1m_pinned"), run.case("nginx_static_1m_pinned")
        single = run.case("ds_1k_pinned_single")
        efficiency = Target("1 KiB efficiency", ">=", 1.0, ratio(ds.rps, verify_per_s * ds.cores),
                            note="pinned: server and wrk on separate cores")
        medium = versus_nginx("1 MiB req/s vs nginx static", ds_m.rps, nginx_m, "pinned")
        targets += [efficiency, medium]
        out.append(f"pinned (server on one core, wrk on another, 1 worker): 1 KiB {ds.rps:.0f} req/s on"
                   f" {ds.cores:.2f} cores, efficiency {efficiency.measured:.2f} ({efficiency.verdict()});"
                   f" alone {single.rps:.0f} req/s ({ratio(single.rps, verify_per_s * single.cores):.2f});"
                   f" nginx static {static.rps:.0f}")
        out.append(f"  p50/p99: download-server {ds.p50_us}/{ds.p99_us} us, alone {single.p50_us}/{single.p99_us} us,"
                   f" nginx static {static.p50_us}/{static.p99_us} us; CPU per request {ds.cpu_us_per_request:.1f} us")
        out.append(f"  1 MiB {ds_m.rps:.0f} req/s vs nginx static {nginx_m.rps:.0f}: {medium.measured:.2f}"
                   f" ({medium.verdict()}); CPU per 1 MiB response {ds_m.cpu_us_per_request:.0f} us vs"
                   f" nginx {nginx_m.cpu_us_per_request:.0f} us")

    for p in (1, 4):
        ds_g, nginx_g = run.case(f"ds_1g_c{p}"), run.case(f"nginx_static_1g_c{p}")
        big = versus_nginx("1 GiB GB/s vs nginx sendfile", ds_g.gbps, nginx_g, f"{p} parallel",
                           gbps=True)
        targets.append(big)
        out.append(f"1 GiB x {p} parallel (1 worker): download-server {ds_g.gbps:.3f} GB/s,"
                   f" nginx sendfile {nginx_g.gbps:.3f} GB/s")
        out.append(f"  ratio {big.measured:.2f} ({big.verdict()}){client_bound_suffix(nginx_g)}")

    slow = run.slow or sys.exit("report: no slow_downloads record (did bench/run stop early?)")
    rss_loaded = max(slow["rss_samples_kib"])
    in_flight = slow["in_flight"]
    per_download = Target("RSS per in-flight download", "<=", 256,
                          ratio(rss_loaded - slow["rss_base_kib"], in_flight), unit=" KiB")
    targets.append(per_download)
    out.append(f"memory: {in_flight} slow downloads of 1 GiB: RSS {slow['rss_base_kib']} KiB ->"
               f" {rss_loaded} KiB, {per_download.measured:.1f} KiB per download"
               f" ({per_download.verdict()})")
    if in_flight != run.machine["slow_downloads"]:
        out.append(f"  WARNING: {in_flight} of {run.machine['slow_downloads']} downloads were in flight")

    jti = jti_figures(run.jti_output) if run.jti_output else sys.exit("report: no jti_memory record")
    per_jti = Target("bytes per live jti", "<=", 48, jti["bytes_per_jti"])
    targets.append(per_jti)
    out.append(f"memory: {jti['bytes_per_jti']:.2f} bytes per live jti at {jti['live']:,.0f}"
               f" (heap, exact; RSS {jti['rss_bytes_per_jti']:.2f}) ({per_jti.verdict()})")
    if "grant_bytes_per_grant" in jti:
        out.append(f"memory: {jti['grant_bytes_per_grant']:.0f} bytes per open grant"
                   f" ({jti['grant_grants']:,.0f} open, heap, exact)")

    pairs = run.machine["redis_pairs"]
    redis = [run.case(f"ds_redis_1k_w1_r{k}").rps for k in range(1, pairs + 1)]
    memory = [run.case(f"ds_mem_1k_w1_r{k}").rps for k in range(1, pairs + 1)]
    replay = Target("Redis replay req/s vs memory", ">=", 0.8,
                    ratio(statistics.mean(redis), statistics.mean(memory)))
    targets.append(replay)
    out.append(f"redis replay: {statistics.mean(redis):.0f} req/s vs memory {statistics.mean(memory):.0f}"
               f" (1 worker, 1 KiB, mean of {pairs} alternating pairs: "
               + " ".join(f"{r:.0f}/{m:.0f}" for r, m in zip(redis, memory)) + ")")
    out.append(f"  ratio {replay.measured:.2f} ({replay.verdict()})")
    # Where each side's CPU went, per request, and how busy the one-worker server was: a side
    # bound by the cores shows them all used, one bound by its worker shows the server at 1.00
    # cores, one waiting on Redis shows neither.
    split = {}
    for side in ("mem", "redis"):
        cases = [run.case(f"ds_{side}_1k_w1_r{k}") for k in range(1, pairs + 1)]
        split[side] = {
            "server_us": statistics.mean(c.cpu_us_per_request for c in cases),
            "redis_us": statistics.mean(c.us_per_request(c.behind_cores) for c in cases),
            "wrk_us": statistics.mean(c.us_per_request(c.client_cores) for c in cases),
            "server_cores": statistics.mean(c.cores for c in cases),
            "machine_cores": statistics.mean(c.machine_cores for c in cases),
        }
        split[side]["total_us"] = sum(split[side][k] for k in ("server_us", "redis_us", "wrk_us"))
    if all(run.case(f"ds_{side}_1k_w1_r{k}").client_cpu_us for side in ("mem", "redis")
           for k in range(1, pairs + 1)):
        for side, label in (("mem", "memory"), ("redis", "Redis")):
            f = split[side]
            in_redis = f", redis-server {f['redis_us']:.1f} us" if side == "redis" else ""
            out.append(f"  CPU per request, {label}: download server {f['server_us']:.1f} us"
                       f" on {f['server_cores']:.2f} cores{in_redis}, wrk {f['wrk_us']:.1f} us;"
                       f" {f['total_us']:.1f} us in all, on {f['machine_cores']:.2f} of {cores} cores")
        out.append(f"  were the shared cores the limit of both sides, the ratio would be"
                   f" {ratio(split['mem']['total_us'], split['redis']['total_us']):.2f}"
                   " (memory's CPU per request in all / Redis's)")

    out.append("")
    out.append("targets:")
    for target in targets:
        note = f" ({target.note})" if target.note else ""
        out.append(f"  {'met   ' if target.met else 'MISSED'} {target.label}: "
                   f"{target.measured:.2f}{target.unit}{note}")
    # Only the load before the first measurement says whether others were running: later, the
    # run's own wrk, servers and curl clients are in it.
    start = run.machine.get("loadavg_start")
    if start is not None and start >= BUSY_LOAD:
        out.append(f"WARNING: the machine was busy when the run began (1-minute load {start}):"
                   " other work shared the cores, so these figures say little")
    warned = [c.name for c in run.cases.values() if c.non2xx or c.connect_errors or c.read_errors or c.timeouts]
    if warned:
        out.append(f"WARNING: errors or non-2xx answers in {', '.join(warned)}")

    results = {
        "machine": run.machine,
        "crypto": {
            "batch": {k: v for k, v in batch.items()},
            "verify_per_s": verify_per_s,
            "verify_us": verify_us,
            "signature_only_per_s": 1e9 / signature_ns,
        },
        "jti_memory": jti,
        "slow_downloads": {
            "in_flight": in_flight,
            "rss_base_kib": slow["rss_base_kib"],
            "rss_loaded_kib": rss_loaded,
            "rss_samples_kib": slow["rss_samples_kib"],
            "kib_per_download": per_download.measured,
        },
        "per_workers": per_workers,
        "redis_replay": {"redis_rps": redis, "memory_rps": memory, "ratio_of_means": replay.measured,
                         "cpu_split": split},
        "cases": {name: case.summary() for name, case in run.cases.items()},
        "targets": [target.summary() for target in targets],
    }
    return out, results


def markdown(results: dict) -> list[str]:
    """The targets as the table bench/README.md shows."""
    rows = ["| Target | Measured | Verdict |", "|---|---|---|"]
    for t in results["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        rows.append(f"| {t['name']} {t['comparison']} {t['threshold']:g}{t['unit']} |"
                    f" {t['measured']:.2f}{t['unit']}{note} | {'met' if t['met'] else 'missed'} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["machine", "case", "report"])
    parser.add_argument("records", type=Path, help="the JSON-lines file bench/run writes")
    parser.add_argument("--json", type=Path, help="write the figures here (report only)")
    parser.add_argument("--markdown", action="store_true", help="also print the targets table")
    args = parser.parse_args()
    run = load(args.records)

    if args.command == "machine":
        print_machine(run)
    elif args.command == "case":
        if not run.cases:
            sys.exit("report: no wrk record yet")
        case = list(run.cases.values())[-1]
        print(case_line(case))
        if case.non2xx:
            print(f"  WARNING: {case.name} had {case.non2xx} non-2xx answers"
                  " (too few tokens minted, or a failure)", file=sys.stderr)
    else:
        lines, results = report(run)
        print()
        print("================================ results ================================")
        print("\n".join(lines))
        if args.markdown:
            print()
            print("\n".join(markdown(results)))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
            print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
