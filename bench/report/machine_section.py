"""bench/report/machine_section.py -- the report's Machine section: what the run ran on (from
machine.json, written by machine_info.py, and the suites' context), the CPU probes at the start,
between rounds and at the end (and a warning when they disagree), and the CPU pinning."""
import math

from mdtable import table


def pinning(res):
    """("pinned", [cpus]) / ("none", []) / ("unrecorded", []): the run's `bench_cpus` context
    (bench/harness.hpp, recorded by every suite since pinning was recorded)."""
    v = res.get("context", {}).get("bench_cpus")
    if v is None:
        return "unrecorded", []
    if v == "none":
        return "none", []
    return "pinned", [x for x in str(v).split(",") if x]


def pinning_text(res):
    state, cpus = pinning(res)
    if state == "pinned":
        return (f"Every benchmark thread ran pinned (bench/harness.hpp `pin_bench_thread`): thread "
                f"t of a run on the t-th CPU of the list {', '.join(cpus)} (`LFARENA_BENCH_CPUS`, "
                f"or the allowed CPUs in ascending order), so every 1-thread row of every subject "
                f"and peer ran on CPU {cpus[0]}"
                + (", and the threads of a 2-thread run on different CPUs" if len(cpus) > 1 else "")
                + ".\n\n")
    if state == "none":
        return "Benchmark threads were not pinned (`LFARENA_BENCH_CPUS=none`).\n\n"
    return ("This run did not record whether its benchmark threads were pinned (the suites record "
            "`bench_cpus` since 2026-12-05): commit 77b244b pinned thread t of a run to the t-th "
            "allowed CPU without recording it; earlier commits did not pin.\n\n")


def numbered(got, fields):
    """The cpu_probe entries in `got` that carry every one of `fields` as a finite number (a
    hand-edited or partial file may hold None, booleans or nothing)."""
    if not isinstance(got, list):
        return []
    return [x for x in got if isinstance(x, dict) and
            all(isinstance(x.get(f), (int, float)) and not isinstance(x.get(f), bool)
                and math.isfinite(x.get(f)) for f in fields)]


def probe_entries(m, key, fields):
    """numbered() of machine.json's `key`."""
    return numbered(m.get(key), fields)


def latency_entries(m, key):
    return probe_entries(m, key, ("cpu", "l2_ns", "mem_ns"))


def pair_entries(m, key):
    return probe_entries(m, key, ("a", "b", "transfer_ns"))


def probe_series(m):
    """What cpu_probe measured, in order: (label, cpus, pairs) at the start, after each round of a
    run in rounds (cpu_probe_rounds) and at the end; entries without numbers are dropped."""
    mem, pair = ("cpu", "mem_ns"), ("a", "b", "transfer_ns")
    out = [("start", numbered(m.get("cpu_probe"), mem), numbered(m.get("cpu_pairs"), pair))]
    rounds = m.get("cpu_probe_rounds")
    for r in rounds if isinstance(rounds, list) else []:
        if isinstance(r, dict):
            out.append((f"after round {r.get('round', '?')}", numbered(r.get("cpus"), mem),
                        numbered(r.get("pairs"), pair)))
    out.append(("end", numbered(m.get("cpu_probe_end"), mem),
                numbered(m.get("cpu_pairs_end"), pair)))
    return out


def drift_text(m, mem_factor=1.5, pair_factor=2.0):
    """A warning when cpu_probe measured the machine differently during a run: a CPU's memory
    latency by more than `mem_factor`, or the line hand-off between two CPUs by more than
    `pair_factor`, between any two of its probes (start, between rounds, end). Why those: the
    same probe repeated a second apart under load moved the hand-off by up to 1.6x (helper-37),
    it stalls whenever either thread does; a smaller change is noise, a larger one means the host
    moved the VM meanwhile. Empty if nothing moved that much, or the run has a start probe only
    (runs before 2026-12-05)."""
    series = probe_series(m)
    mems, pairs = {}, {}
    for label, cpus, prs in series:  # (label, value) per probe that measured it, > 0 only
        for x in cpus:
            if x["mem_ns"] > 0:
                mems.setdefault(x["cpu"], []).append((label, x["mem_ns"]))
        for x in prs:
            if x["transfer_ns"] > 0:
                pairs.setdefault((x["a"], x["b"]), []).append((label, x["transfer_ns"]))

    def moved_by(v, factor):
        ns = [x for _, x in v]
        return len(ns) > 1 and max(ns) > factor * min(ns)

    def path(v):  # the labels only where a probe is missing, so the order cannot mislead
        full = [label for label, _, _ in series]
        if [label for label, _ in v] == full and len(full) == 2:
            return " -> ".join(f"{x:.0f}" for _, x in v) + " ns"
        if [label for label, _ in v] == full:
            return " -> ".join(f"{x:.0f}" for _, x in v) + " ns (" + ", ".join(full) + ")"
        return " -> ".join(f"{x:.0f} ns ({label})" for label, x in v)

    moved = []
    for cpu, v in mems.items():
        if moved_by(v, mem_factor):
            moved.append(f"CPU {cpu}'s memory latency {path(v)}")
    for (a, b), v in pairs.items():
        if moved_by(v, pair_factor):
            moved.append(f"the line hand-off between CPUs {a} and {b} {path(v)}")
    if not moved:
        return ""
    rounds = len(series) > 2
    where = ("at the start, after each round and at the end" if rounds else
             "at the start and at the end")
    why = ("Every suite ran once in each round, so each row's median mixes the same windows of "
           "the run for every subject; a ratio still carries what changed within a round."
           if rounds else
           "Suites run one after another, so a ratio between two suites (a peer's row against "
           "lfarena's) may carry part of that change; ratios within one suite and thread count "
           "carry less.")
    return ("**The machine changed during the run:** " + ", ".join(moved) +
            f" (`cpu_probe` {where}; each probe takes a few seconds, so compare the load "
            "averages too). " + why + "\n\n")


def probe_rows(m):
    """The Machine table's rows for what cpu_probe measured at the start and at the end."""
    ended = "cpu_probe_end" in m  # an end probe was run (it may have failed)
    rows = []

    def both(start, end, fmt):
        s = "; ".join(fmt(x) for x in start)
        e = "; ".join(fmt(x) for x in end)
        if not ended:
            return s
        return (f"at the start {s}" if s else "none at the start") + "; " + (
            f"at the end {e}" if e else "the end probe failed")

    cpus, cpus_end = latency_entries(m, "cpu_probe"), latency_entries(m, "cpu_probe_end")
    if cpus or cpus_end:
        rows.append(("load latency per CPU (256 KiB / 16 MiB chase)",
                     both(cpus, cpus_end,
                          lambda x: f"CPU {x['cpu']}: {x['l2_ns']:.1f} / {x['mem_ns']:.1f} ns")))
    pairs, pairs_end = pair_entries(m, "cpu_pairs"), pair_entries(m, "cpu_pairs_end")
    if pairs or pairs_end:
        rows.append(("cache-line hand-off between CPUs (ping-pong)",
                     both(pairs, pairs_end,
                          lambda x: f"CPU {x['a']}-{x['b']}: {x['transfer_ns']:.0f} ns")))
    between = [(label, prs) for label, _, prs in probe_series(m)[1:-1]]
    if between:
        rows.append(("cache-line hand-off between rounds",
                     "; ".join(label + ": " + (", ".join(
                         f"CPU {x['a']}-{x['b']} {x['transfer_ns']:.0f} ns" for x in prs)
                         or "probe failed") for label, prs in between)))
    return rows


def machine_section(res):
    m, c = res.get("machine", {}), res.get("context", {})
    cores = m.get("cores") or c.get("num_cpus")
    kind = f"{cores}-core VM" if m.get("hypervisor") else f"{cores}-core machine"
    if m.get("container"):
        kind += f" ({m['container']} container)"
    load = m.get("load_average_start") or c.get("load_avg")
    rows = [("machine", kind), ("CPU", f"{m.get('cpu_model', 'unknown')}, {c.get('mhz_per_cpu', '?')} MHz"),
            ("caches", ", ".join(f"L{x['level']} {x['type']} {x['size'] // 1024} KiB"
                                 for x in c.get("caches", []))),
            ("kernel", m.get("kernel", "?")), ("OS", m.get("os", "?")),
            ("compilers", "; ".join(v for v in m.get("compilers", {}).values() if v)),
            ("cpufreq governor", m.get("governor", "unreadable")),
            ("transparent huge pages", m.get("transparent_hugepage", "?")),
            ("load average at start / end", f"{' '.join(map(str, load or []))} / "
                                            f"{' '.join(m.get('load_average_end', []))}"),
            ("date", f"{m.get('date', res.get('date'))} to {m.get('date_end', '?')}"),
            ("git commit", f"{m.get('git_commit', '?')}{' (with uncommitted changes)' if m.get('git_dirty') else ''}"),
            ("run mode", m.get("mode", "?")),
            ("packages", ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items()))]
    rows += probe_rows(m)
    cpus = latency_entries(m, "cpu_probe")
    text = "## Machine\n\n" + table(["", ""], rows) + "\n"
    bt = c.get("library_build_type")
    if bt:
        text += (f"Google Benchmark reports `library_build_type: {bt}`: Debian's libbenchmark "
                 "1.7.1 is built as a DEBUG library. That only affects the harness's bookkeeping "
                 "between timed loops; the measured code is our own Release (-O3) build, so the "
                 "numbers are not slowed by it.\n\n")
    mem = [x["mem_ns"] for x in cpus if x.get("mem_ns")]
    if len(mem) > 1 and max(mem) > 1.3 * min(mem):
        text += (f"**The CPUs are not alike:** a dependent load missing the caches took "
                 f"{min(mem):.0f} ns on the fastest CPU and {max(mem):.0f} ns on the slowest "
                 f"(`cpu_probe`, pinned to each, at the start of the run). Memory-bound numbers "
                 f"(churn over many segments, cross-thread frees) then depend on the CPU a 1-thread "
                 f"row ran on (below), and in a 2-thread run the slower CPU sets the wall time: read "
                 f"2-thread vs 1-thread ratios as bounded by this machine, and compare subjects at "
                 f"the same thread count.\n\n")
    text += drift_text(m)
    text += pinning_text(res)
    text += ("The machine is small and was shared with other jobs (see the load average): "
             "absolute numbers are noisy, ratios measured in the same run are the useful "
             "output, and `ci/bench.sh --full` (9 repetitions, medians) is the one to cite.\n\n")
    rounds = c.get("lfarena_rounds")
    if isinstance(rounds, int) and rounds > 1:
        text += (f"**This run ran in {rounds} interleaved rounds:** every suite ran once per "
                 "round with an equal share of its repetitions, round after round "
                 f"(bench/report/merge_rounds.py), so each row's median comes from {rounds} "
                 "windows spread over the run, the same windows for lfarena and for the peers. "
                 "Reports up to 2026-12-05-vm-4 ran each suite once, its repetitions back to back, "
                 "so two suites' rows were measured up to an hour apart.\n\n")
    return text
