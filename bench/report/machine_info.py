#!/usr/bin/python3
"""bench/report/machine_info.py -- record the machine a benchmark run ran on (machine.json).

  machine_info.py --mode quick --out RUN/machine.json   # at the start of a run
  machine_info.py --finish RUN/machine.json             # at the end: load average, end time
  machine_info.py ... --probe build/bench/bench/cpu_probe  # also: the CPU probe, at both ends
  machine_info.py --after-round RUN/machine.json --round 1 --probe ...  # between two rounds

Fields: CPU model, logical cores, virtualization, kernel, compilers, cmake, Google Benchmark and
peer package versions, cpufreq governor (if readable), transparent huge pages, load average,
date, host, git commit (+ dirty flag), run mode, and with --probe what bench/cpu_probe.cpp
(`cpu_probe`) measured at the start (cpu_probe: load latency per CPU; cpu_pairs: ns per hand-off
of a cache line between two CPUs) and at the end (cpu_probe_end, cpu_pairs_end), and with
--after-round after each round of a run in rounds but the last (cpu_probe_rounds: a list of
{round, date, cpus, pairs}; ci/bench.sh --full, merge_rounds.py). Standard library only; no
network.
"""
import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys


def sh(*cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_model():
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def hypervisor():
    flags = next((l for l in read("/proc/cpuinfo").splitlines() if l.startswith("flags")), "")
    return " hypervisor" in flags


def container():
    virt = sh("systemd-detect-virt", "--container")
    return virt if virt and virt != "none" else ""


def pkg_version(name):
    return sh("dpkg-query", "-W", "-f=${Version}", name)


def probe(path):
    """The cpu_probe JSON ({"cpus": [...], "pairs": [...]}) or {} if it is missing or fails."""
    if not path:
        return {}
    try:
        out = subprocess.run([path], capture_output=True, text=True, timeout=120, check=True).stdout
        got = json.loads(out)
        return got if isinstance(got, dict) else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


def start(mode, out, probe_path=None):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = sh("git", "-C", repo, "rev-parse", "HEAD")
    dirty = bool(sh("git", "-C", repo, "status", "--porcelain", "--untracked-files=no"))
    thp = read("/sys/kernel/mm/transparent_hugepage/enabled")
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "mode": mode,
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "hypervisor": hypervisor(),
        "container": container(),
        "kernel": platform.release(),
        "os": read("/etc/debian_version") and "Debian " + read("/etc/debian_version"),
        "compilers": {
            "g++-12": sh("g++-12", "--version").splitlines()[0:1],
            "clang++-14": sh("clang++-14", "--version").splitlines()[0:1],
        },
        "cmake": (sh("cmake", "--version").splitlines() or [""])[0],
        "packages": {p: pkg_version(p) for p in (
            "libbenchmark-dev", "libjemalloc-dev", "libmimalloc-dev",
            "libgoogle-perftools-dev", "python3-matplotlib")},
        "governor": read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "unreadable",
        "transparent_hugepage": thp or "unreadable",
        "load_average_start": read("/proc/loadavg").split()[:3],
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
    }
    # At the start and again at the end (finish()): the host may move the VM's vCPUs meanwhile.
    got = probe(probe_path)
    info["cpu_probe"] = got.get("cpus")
    info["cpu_pairs"] = got.get("pairs")
    info["compilers"] = {k: (v[0] if v else "") for k, v in info["compilers"].items()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


def finish(path, probe_path=None):
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    if probe_path:
        got = probe(probe_path)
        info["cpu_probe_end"] = got.get("cpus")
        info["cpu_pairs_end"] = got.get("pairs")
    info["load_average_end"] = read("/proc/loadavg").split()[:3]
    info["date_end"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


def after_round(path, number, probe_path):
    """Appends what cpu_probe measures now, after round `number`, to cpu_probe_rounds. A
    diagnostic between rounds: an unreadable machine.json is reported and left alone (False),
    never a reason to stop the run."""
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        print(f"machine_info.py: {path}: cannot record the probe after round {number}: {e}",
              file=sys.stderr)
        return False
    got = probe(probe_path)
    if not isinstance(info.get("cpu_probe_rounds"), list):
        info["cpu_probe_rounds"] = []
    info["cpu_probe_rounds"].append({
        "round": number,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": got.get("cpus"), "pairs": got.get("pairs")})
    try:  # written whole or not at all: a failed write leaves the old file
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
        os.replace(path + ".tmp", path)
    except OSError as e:
        print(f"machine_info.py: {path}: cannot record the probe after round {number}: {e}",
              file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="quick")
    ap.add_argument("--out")
    ap.add_argument("--finish")
    ap.add_argument("--after-round", metavar="MACHINE_JSON",
                    help="record the probe after round --round of a run in rounds")
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--probe", help="the cpu_probe executable (per-CPU load latency, line "
                    "hand-off between CPUs); with --out and with --finish")
    a = ap.parse_args()
    if a.after_round:
        after_round(a.after_round, a.round, a.probe)
    elif a.finish:
        finish(a.finish, a.probe)
    elif a.out:
        start(a.mode, a.out, a.probe)
    else:
        ap.error("--out, --finish or --after-round is required")


if __name__ == "__main__":
    main()
