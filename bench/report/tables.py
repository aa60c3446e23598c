"""bench/report/tables.py -- report.md from a normalised run (see generate.py).

Ratios are time ratios: lfarena ns/op divided by the other subject's ns/op on the same workload,
size, alignment and thread count (below 1.00x: lfarena is faster)."""
import changes
import instr_section
import targets
from machine_section import machine_section, pinning
from mdtable import table

LFARENA_BUMP = ("lfarena-heap", "lfarena-anonymous", "lfarena-file")
POLICIES = ("none", "optimistic", "pessimistic", "segregated")
BUMP_TARGET = 1.25


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.2f} ns"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def fmt_bytes(v):
    if v is None:
        return "n/a"
    return f"{v / 2**20:.2f} MiB" if v >= 2**20 else f"{v / 1024:.1f} KiB" if v >= 1024 else f"{v:.0f} B"


def failed(row):
    """Operations of the row that failed, over every repetition (0 for suites without them)."""
    if row.get("suite") == "frag":  # failures are the frag workload's result, not an error
        return 0
    return int(row.get("failed_ops", row.get("counters", {}).get("failures", 0)) or 0)




class Index:
    """Look-up of ns/op by (suite, subject, params without threads, threads)."""

    def __init__(self, rows):
        self.rows = rows
        self.map = {}
        for r in rows:
            p = tuple(sorted((k, v) for k, v in r["params"].items() if k != "threads"))
            self.map[(r["suite"], r["subject"], p, r["threads"])] = r

    def get(self, suite, subject, threads, **params):
        p = tuple(sorted((k, str(v)) for k, v in params.items()))
        return self.map.get((suite, subject, p, threads))

    def ns(self, *a, **k):
        """ns/op of a row whose operations all succeeded: a failed allocation is not a completed
        operation, so a row with failures has no time to compare (None: n/a in every ratio);
        nor has a row some of whose repetitions failed (generate.load_run names them)."""
        r = self.get(*a, **k)
        return r["ns_per_op"] if r and not failed(r) and not r.get("error") else None

    def round_ns(self, *a, **k):
        """ns/op per round (generate.round_ns) of a row ns() accepts; [] otherwise."""
        r = self.get(*a, **k)
        return list(r.get("round_ns") or []) if self.ns(*a, **k) else []

    def subjects(self, suite):
        return sorted({r["subject"] for r in self.rows if r["suite"] == suite})

    def values(self, suite, key):
        vals = {r["params"].get(key) for r in self.rows if r["suite"] == suite} - {None}
        return sorted(vals, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else v))

    def threads(self, suite):
        return sorted({r["threads"] for r in self.rows if r["suite"] == suite})


def headline(ix, pairs=None):
    out = ["## Headline\n"]
    lf, raw = ix.ns("bump", "lfarena-heap", 1, size=64, align=8), ix.ns("bump", "raw-atomic", 1, size=64, align=8)
    if lf and raw:
        verdict = "meets" if lf / raw <= BUMP_TARGET else "MISSES"
        line = (f"- Single-thread bump allocation, 64 B: lfarena-heap {fmt_ns(lf)} vs raw atomic "
                f"fetch_add {fmt_ns(raw)}: **{lf / raw:.2f}x** ({verdict} the {BUMP_TARGET}x target)")
        # Back to back (pairs.py), when the run has the pairs: the speed targets' verdict.
        p = targets.clean_pairs(pairs)
        bump_t = next(t for t in targets.speed_targets(lambda r: False)
                      if t.num == targets.row("bump", "lfarena-heap", 1, size=64, align=8)
                      and t.den.subject == "raw-atomic")
        said = (targets.decide(bump_t, targets.pairs_for(bump_t, p["targets"]), p["pairs"])
                if p else None)
        if said and said[0] == "ratio":  # what the speed targets' table decides, no more
            line += (f"; back to back, the speed targets' verdict: **{said[1]:.2f}x** ("
                     + ("meets" if bump_t.meets(said[1]) else "MISSES") + ")")
        elif said:
            line += "; back to back: MISSES (allocations failed)"
        out.append(line + ".")
    for size in ("mixed", "64"):
        for pol in ("pessimistic", "optimistic", "segregated"):
            vals = [(s, ix.ns("churn", f"lfarena-{pol}", 1, size=size, segments=s))
                    for s in ix.values("churn", "segments")]
            if all(v for _, v in vals) and vals:
                steps = ", ".join(f"{int(s) // 1000}k: {fmt_ns(v)}" for s, v in vals)
                growth = vals[-1][1] / vals[0][1]
                label = "mixed 24..256 B" if size == "mixed" else f"{size} B"
                out.append(f"- Churn {pol}, {label}, 1 thread, per free+allocate pair: {steps} "
                           f"({growth:.0f}x from {int(vals[0][0]) // 1000}k to {int(vals[-1][0]) // 1000}k segments).")
    out.append("")
    return "\n".join(out) + "\n"


def targets_section(ix, pairs=None, mode=None):
    """The speed targets (targets.py; issue list in README "Headline numbers"), each a ratio of
    two measurements of this run, with a verdict. A ratio with a failing row is n/a (Index.ns).
    With `pairs` (pairs.json: the two rows run back to back, pairs.py) the verdict is the median
    of the pairs' ratios, beside the ratio of the medians."""
    pairs = targets.clean_pairs(pairs)
    by_name = pairs["targets"] if pairs else {}
    # Pairs at another scale than the run's (a hand-assembled run directory) measured other
    # iteration counts: they decide nothing here.
    other_scale = bool(pairs and mode and pairs["scale"] and pairs["scale"] != mode)
    if other_scale:
        by_name = {}
    rows, used = [], 0  # used: targets whose own rows ran back to back

    def add(t, value):
        nonlocal used
        value, per_round, failing = value
        sign = ">=" if t.better == "higher" else "<="
        entry = targets.pairs_for(t, by_name)
        back = [] if pairs is None else [back_to_back(t, entry)]
        used += entry is not None
        if value is None:
            # A row that ran but has no time (Index.ns: failed allocations, or failed
            # repetitions) is named with the reason. Only lfarena's own failed allocations miss
            # a target (a failed allocation is not a completed operation); a peer's, or a
            # harness error, leave it n/a, as does a policy's failure in the size-index targets.
            # The pairs change none of it.
            measured = "n/a" + (" (" + "; ".join(f"{who}: {why}" for who, why, _ in failing)
                                + ")" if failing else "")
            ours_failed = any(ours for _, _, ours in failing)
            verdict = ("not measured" if not failing
                       else "MISSED (allocations failed)" if ours_failed and t.failure_misses
                       else "n/a (allocations failed)" if ours_failed
                       else "n/a (" + " and ".join(who for who, _, _ in failing) + ": no time)")
            rows.append([t.name] + back + [measured, f"{sign} {t.target}x", verdict, t.how])
            return
        meets = t.meets
        measured, verdict = f"{value:.2f}x", "met" if meets(value) else "MISSED"
        # A run in rounds (merge_rounds.py): the ratio of each round's medians too, and how many
        # rounds agree with the verdict, so a verdict that the machine's state decides shows.
        if len(per_round) > 1:
            measured += " (rounds: " + " / ".join(
                f"{v:.2f}" if v is not None else "n/a" for v in per_round) + ")"
            known = [v for v in per_round if v is not None]
            agree = sum(1 for v in known if meets(v) == meets(value))
            if agree < len(known):
                verdict += f" ({agree} of {len(known)} rounds agree)"
            if len(known) < len(per_round):  # a row without error-free repetitions there
                verdict += f" ({len(per_round) - len(known)} round(s) n/a)"
        if entry is not None:
            said = targets.decide(t, entry, pairs["pairs"])
            if said and said[0] == "failed":
                # lfarena's failed allocations in any pair miss the target as in the run itself
                # (the size-index targets: n/a), whatever the other pairs say.
                verdict = ("MISSED" if t.failure_misses else "n/a") + (
                    f" (allocations failed in {said[1]} of {said[2]} pairs)")
            elif said:
                # The pairs decide: each of their ratios was taken within seconds.
                _, median, agree, known = said
                verdict = ("met" if meets(median) else "MISSED") + (
                    f" ({agree} of {known} pairs agree)" if agree < known else "")
                if meets(median) != meets(value):
                    verdict += "; the medians' ratio says " + ("met" if meets(value) else "MISSED")
            else:
                verdict += " (by the medians: too few pairs)"
        elif pairs is not None:
            verdict += " (by the medians: not run back to back)"
        rows.append([t.name] + back + [measured, f"{sign} {t.target}x", verdict, t.how])

    def back_to_back(t, entry):
        if entry is None:
            return "not run"
        median, ratios, failed_sides = targets.paired(entry)
        known = [v for v in ratios if v is not None]
        if median is None:
            text = "n/a"
        else:
            text = (f"{median:.2f}x ({len(known)} pairs: {min(known):.2f} to {max(known):.2f})"
                    if len(known) > 1 else f"{median:.2f}x (1 pair)")
        notes = [f"{len(ratios) - len(known)} of {len(ratios)} pairs n/a"] if len(known) < len(ratios) else []
        for side in ("num", "den"):
            n = sum(1 for f in failed_sides if side in f)
            if n:
                notes.append(f"{n} with failed operations in {getattr(t, side).label()}")
        return text + (" (" + "; ".join(notes) + ")" if notes else "")

    class Lookup:  # one row's ns/op and its per-round ns/op
        def __init__(self, r):
            a, k = (r.suite, r.subject, r.threads), dict(r.params)
            self.ns, self.rounds = ix.ns(*a, **k), ix.round_ns(*a, **k)
            got = ix.get(*a, **k)
            # Why a row that ran has no time: (the row, its failed allocations and failed
            # repetitions, whether they are lfarena's own failed allocations).
            self.failing = None
            if got and self.ns is None:
                n, err = failed(got), got.get("error")
                why = ([f"{n} failed allocations over every repetition"] if n else []) + (
                    [err] if err else []) or ["no time"]
                self.failing = (r.label(), "; ".join(why), bool(n) and r.subject.startswith("lfarena"))

    def div(a, b):
        value = a.ns / b.ns if a.ns and b.ns else None
        per_round = []
        if value is not None and len(a.rounds) == len(b.rounds):
            per_round = [x / y if x and y else None for x, y in zip(a.rounds, b.rounds)]
        return value, per_round, [x.failing for x in (a, b) if x.failing]

    has = lambda r: ix.get(r.suite, r.subject, r.threads, **dict(r.params)) is not None  # noqa: E731
    for t in targets.speed_targets(has):
        add(t, div(Lookup(t.num), Lookup(t.den)))
    head = ["target"] + (["back to back"] if pairs is not None else []) + [
        "ratio of medians" if pairs is not None else "measured", "target", "verdict", "ratio of"]
    text = ("## Speed targets\n\nEach target is a ratio of two measurements of this run on this "
            "machine (2 cores: see above); `met` or `MISSED` as measured. A row with failed "
            "allocations or failed repetitions has no time and is named with its reason: "
            "lfarena's own failed allocations miss the target (a failed allocation is not a "
            "completed operation; the size-index targets, which judge the index and not the "
            "policy, stay n/a), anything else leaves it n/a; `not measured`: a subject did not "
            "run. A run in rounds (`ci/bench.sh --full`) also "
            "shows the ratio of each round's medians, and a verdict that not every round agrees "
            "with says how many do: such a verdict is decided by the machine's state as much as by "
            "the code.\n\n")
    if pairs is not None:
        def shown(v, unit=""):
            return "?" if v is None else f"{v:g}{unit}"
        reps = pairs["repetitions"]
        if used or other_scale:
            text += (f"**Back to back** (`bench/report/pairs.py`, {used} targets, "
                     f"{shown(pairs['pairs'])} pairs each, {shown(pairs['seconds'], ' s')}): after "
                     "the rounds each target's two rows ran one after the other, each in its own "
                     "process ("
                     + ("one repetition" if reps == 1 else f"{shown(reps)} repetitions, their median")
                     + "), the order alternating from pair to pair; the column gives the median "
                     "of the pairs' ratios and their range. This machine changes state within "
                     "seconds, every subject at once, and a ratio of two medians taken minutes apart "
                     "carries that change; a pair's ratio is taken within seconds. So when both rows "
                     "have a time in the run, the pairs decide the verdict (a pair with failed "
                     "operations has no ratio, and lfarena's failed allocations in any pair miss the "
                     "target; with half the pairs planned or fewer left, the medians decide), and a "
                     "verdict says when the ratio of the medians disagrees.\n\n")
        else:  # nothing ran: no method to describe, only that the medians decide and why
            text += ("**Back to back** (`bench/report/pairs.py`): nothing was measured, so the "
                     "medians decide every verdict.\n\n")
        if other_scale:
            text += (f"**The pairs were measured at scale {pairs['scale']}, this run at {mode}: "
                     "they are not used.** ")
        elif not used:
            text += "**No target ran back to back.** "
        # One line each: a message's line breaks must not start table rows or headings.
        errors = [" ".join(str(e).split()) for e in pairs["errors"]]
        if errors:
            text += "Pairs not run or cut short: " + "; ".join(errors) + ".\n\n"
        elif not used:
            text += "(pairs.json names no target and no reason.)\n\n"
    return text + table(head, rows) + "\n"


def xthread_section(ix, res):
    subjects = ix.subjects("xthread")
    if not subjects:
        return ""
    rows = []
    for size in ix.values("xthread", "size"):
        glibc = ix.ns("xthread", "glibc", 2, size=size, batch="4096")
        mi = ix.ns("xthread", "mimalloc", 2, size=size, batch="4096")
        for s in subjects:
            r = ix.get("xthread", s, 2, size=size, batch="4096")
            if not r:
                continue
            ns = ix.ns("xthread", s, 2, size=size, batch="4096")
            rate = f"{1e3 / r['ns_per_op']:.2f}" if r["ns_per_op"] else "n/a"
            rows.append([s, size, rate, fmt_ns(r["ns_per_op"]), failed(r), ratio(glibc, ns), ratio(mi, ns)])
    return ("## Cross-thread frees\n\nOne producer thread allocates objects in batches of 4096 and "
            "hands each batch to one consumer thread, which frees them (every free is of another "
            "thread's block); the producer stays at most 4 batches ahead. Rate: million objects per "
            "second through the pair (wall clock). The last two columns are rate ratios (above "
            "1.00x: lfarena or the subject is faster than the peer). `lfarena-none` only counts its "
            "frees as discarded. "
            + ("Producer and consumer ran pinned to different CPUs (see Machine): every hand-off "
               "crosses cores. " if len(pinning(res)[1]) > 1 else "")
            + "Unpinned (reports before 2026-12-05-vm-2), the scheduler often put both threads on "
            "one CPU (34 of 186 samples), which made the hand-offs cache-local: the same binary "
            "measured every rate 3-10x higher unpinned than pinned, so rates of unpinned and "
            "pinned runs are not comparable; ratios within a run are.\n\n"
            + table(["subject", "size", "M objects/s", "ns/object", "failed allocations",
                     "vs glibc", "vs mimalloc"], rows) + "\n")


def bump_section(ix):
    text = ("## Bump allocation\n\nEach thread allocates a fixed number of blocks from one shared "
            "region (pre-faulted; nothing freed or written while timed but each pointer, which "
            "every subject stores in a pre-faulted slot array: reports before 2026-12-05-vm-6 let "
            "only the malloc peers pay that store, which favoured lfarena and the raw pointers "
            "against them, "
            "see docs/DESIGN.md §6.8; the first repetition "
            "builds the region, the next ones rewind it: lfarena `Arena::reset()`, the raw and pmr "
            "pointers back to their start; reports before 2026-12-05 built and faulted a new one "
            "for every repetition: on the same VM, 9 repetitions each way, most subjects measured "
            "1-25% slower at 1 thread that way, and lfarena-heap / raw-atomic 1.37x and 1.30x "
            "against 1.36x and 1.29x rewound); ns/op is wall-clock time "
            "per allocation over all threads (inverse aggregate throughput). `raw-atomic` is a bare "
            "`std::atomic` fetch_add bump pointer, `raw-local` a per-thread plain pointer. The fastest "
            "runs last about a millisecond, where thread start-up skew caps the multi-thread "
            "numbers: compare subjects at the same thread count rather than reading scaling.\n\n")
    rows = []
    for size in ix.values("bump", "size"):
        for align in ix.values("bump", "align"):
            for t in ix.threads("bump"):
                raw = ix.ns("bump", "raw-atomic", t, size=size, align=align)
                for subj in LFARENA_BUMP:
                    ns = ix.ns("bump", subj, t, size=size, align=align)
                    if ns:
                        rows.append([subj, size, align, t, fmt_ns(ns), fmt_ns(raw), ratio(ns, raw)])
    text += "### lfarena vs raw atomic bump\n\n" + table(
        ["subject", "size", "align", "threads", "lfarena", "raw-atomic", "ratio"], rows) + "\n"
    peers = [s for s in ix.subjects("bump") if s not in LFARENA_BUMP]
    rows = []
    for size in ix.values("bump", "size"):
        for align in ix.values("bump", "align"):
            for t in ix.threads("bump"):
                lf = ix.ns("bump", "lfarena-heap", t, size=size, align=align)
                if lf:
                    rows.append([size, align, t, fmt_ns(lf)] + [
                        f"{fmt_ns(ix.ns('bump', p, t, size=size, align=align))} ({ratio(lf, ix.ns('bump', p, t, size=size, align=align))})"
                        for p in peers])
    text += ("### lfarena-heap vs every peer\n\nCells: peer ns/op (lfarena-heap / peer).\n\n"
             + table(["size", "align", "threads", "lfarena-heap"] + peers, rows) + "\n")
    return text


def churn_section(ix):
    segs = ix.values("churn", "segments")
    text = ("## Freelist churn\n\nThe region is filled until its bump part is exhausted, S random "
            "blocks are freed (S = free segments) and S other random blocks are the live churn set "
            "(the rest of the filled region stays allocated, untouched, so every subject churns "
            "the same number of live blocks; before commit 6f5b007 lfarena churned everything "
            "its region held, about 6x the peers' live set at 1k segments), then each timed "
            "operation frees a random live block of the churn set and allocates a new one, so every allocation is served by the freelist. Every "
            "repetition starts from a freshly built state and runs a fixed number of pairs per "
            "thread (the same for every subject but the linear-scan baselines, which run 1000 pairs at 20k and 200 at 100k segments: `churn_iterations()` in bench/workloads.hpp; "
            "at `--full` 400000 pairs at 1k segments and 200000 at 20k and 100k; reports before 2026-12-03-vm-4 ran 50000 and 10000 there, "
            "too few: the first milliseconds after a build run up to 3x slower, and 10000 pairs at 100k segments measured that transient), "
            "so no subject runs longer because it is fast. "
            "`optimistic` and `pessimistic` keep one sorted lock-free list per size class (the "
            "`-linear` subjects: one list for all): insert and best-fit traverse one class (all "
            "segments), so their cost per operation grows with the number of free segments in a "
            "class (the `growth` column). `segregated` keeps size classes of lock-free stacks. "
            "`none` cannot reuse memory: it allocates from bump headroom and discards every free. "
            "Peers run the same shape (2S blocks, S freed). Caveat for the 64 B shape on the sorted "
            "lists: every allocation takes the lowest-offset segment, so free segments drift above "
            "the live blocks and a freed block is soon reinserted near the head; runs at 1k "
            "segments reach that cheap steady state, runs at 20k/100k (fewer iterations) do not, "
            "which inflates the 64 B growth factor. The mixed shape is the representative one.\n\n")
    rows = []
    for subj in [s for s in ix.subjects("churn") if s.startswith("lfarena")]:
        for size in ix.values("churn", "size"):
            for t in ix.threads("churn"):
                got = [ix.get("churn", subj, t, size=size, segments=s) for s in segs]
                vals = [ix.ns("churn", subj, t, size=size, segments=s) for s in segs]
                cells = [fmt_ns(r["ns_per_op"]) + (f" ({failed(r)} failed)" if failed(r) else "")
                         if r else "n/a" for r in got]
                growth = f"{vals[-1] / vals[0]:.0f}x" if vals and vals[0] and vals[-1] else "n/a"
                rows.append([subj, size, t] + cells + [growth, sum(failed(r) for r in got if r)])
    text += ("A row whose allocations failed shows its time with the count of failures (over "
             "every repetition) and takes no part in any ratio (n/a); a speed target it decides "
             "says so (see Speed targets).\n\n")
    text += table(["subject", "size", "threads"] + [f"{int(s) // 1000}k segments" for s in segs]
                  + ["growth", "failed allocations"], rows) + "\n"
    peers = [s for s in ix.subjects("churn") if not s.startswith("lfarena")]
    for pol in [s for s in ix.subjects("churn") if s.startswith("lfarena") and s != "lfarena-none"]:
        rows = []
        for size in ix.values("churn", "size"):
            for s in segs:
                for t in ix.threads("churn"):
                    lf = ix.ns("churn", pol, t, size=size, segments=s)
                    rows.append([size, s, t, fmt_ns(lf)] + [
                        f"{fmt_ns(ix.ns('churn', p, t, size=size, segments=s))} ({ratio(lf, ix.ns('churn', p, t, size=size, segments=s))})"
                        for p in peers])
        text += (f"### {pol} vs every peer\n\nCells: peer ns/op ({pol} / peer).\n\n"
                 + table(["size", "segments", "threads", pol] + peers, rows) + "\n")
    return text


def frag_section(ix):
    rows = []
    for r in ix.rows:
        if r["suite"] != "frag":
            continue
        c = r["counters"]
        peak = c.get("peak_region_bytes")
        region = c.get("region_bytes")
        rows.append([r["subject"], r["params"].get("ops", "?"), fmt_bytes(c.get("discarded_bytes")),
                     fmt_bytes(c.get("stranded_free_bytes")), int(c.get("fail_with_free", 0)),
                     int(c.get("failures", 0)),
                     f"{fmt_bytes(peak)} ({100 * peak / region:.0f}%)" if peak and region else "n/a",
                     fmt_bytes(c.get("peak_live_bytes")), int(c.get("free_segments_end", 0)),
                     fmt_bytes(c.get("largest_free_end")), fmt_ns(r["ns_per_op"])])
    if not rows:
        return ""
    return ("## Fragmentation\n\nOne seeded, single-threaded mixed workload (24 B..32 KiB, live set "
            "rising and falling in waves) on an 8 MiB region per policy. `stranded free` is the "
            "mean free bytes at an allocation failure that had at least the requested bytes free "
            "(free memory that could not serve the request). Peak region use is the bump "
            "high-water mark: allocation is bump-first, so a long workload uses the whole region "
            "before any reuse.\n\n" + table(
                ["policy", "ops", "discarded", "stranded free", "failures with free", "failures",
                 "peak region use", "peak live", "free segments at end", "largest free at end",
                 "ns/op"], rows) + "\n")


def skiplist_section(ix):
    subjects = ix.subjects("skiplist")
    if not subjects:
        return ""
    rows = []
    for t in ix.threads("skiplist"):
        raw = ix.ns("skiplist", "raw-atomic", t, inserts=ix.values("skiplist", "inserts")[0])
        for s in subjects:
            r = [x for x in ix.rows if x["suite"] == "skiplist" and x["subject"] == s and x["threads"] == t]
            if r:
                rows.append([s, t, fmt_ns(r[0]["ns_per_op"]), ratio(r[0]["ns_per_op"], raw)])
    return ("## Skiplist-like client\n\nConcurrent insert-only skiplist of 32..96 B nodes linked by "
            "offset (handle); ns per insert (allocation + search + CAS linking).\n\n"
            + table(["subject", "threads", "ns/insert", "vs raw-atomic"], rows) + "\n")


def faults_section(ix):
    rows, quiet = [], 0
    for r in ix.rows:
        f = r["counters"].get("minor_faults")
        if f is None:
            continue
        if f < 1:
            quiet += 1
            continue
        n = r.get("iterations_per_thread")
        per = f"{1e3 * f / (n * r['threads']):.3f}" if n else "n/a"
        rows.append([r["name"], f"{f:.0f}", per])
    if not rows and not quiet:
        return ""
    text = ("## Page faults while timed\n\nMinor page faults of the whole process during the timed "
            "loop (getrusage; median over repetitions). Arena subjects pre-fault their region, so a "
            "fault there is a first touch the benchmark missed; general allocators map memory on "
            "demand, and their faults are part of their time. "
            f"The other {quiet} benchmarks took none.\n\n")
    if rows:
        text += table(["benchmark", "minor faults", "per 1000 iterations (all threads)"], rows) + "\n"
    return text


def report_md(res, charts):
    ix = Index([r for r in res["results"] if r["ns_per_op"]])
    m = res.get("machine", {})
    text = f"# lfarena benchmark report: {res['report']}\n\n"
    pairs, mode = res.get("pairs"), m.get("mode") if isinstance(m, dict) else None
    # Another scale's pairs decide nothing (targets_section says so), in the headline neither.
    same_scale = not (isinstance(pairs, dict) and mode and pairs.get("scale") not in (None, mode))
    text += (machine_section(res) + headline(ix, pairs if same_scale else None)
             + targets_section(ix, pairs, mode))
    text += instr_section.section(res.get("instructions"))
    if res.get("changes"):
        text += changes.changes_md(res["changes"])
    for chart, title in (("bump_threads.png", "Bump throughput vs threads"),
                         ("churn_segments.png", "Churn cost vs free segments"),
                         ("frag.png", "Fragmentation per policy")):
        if chart in charts:
            text += f"![{title}]({chart})\n\n"
    text += (bump_section(ix) + churn_section(ix) + xthread_section(ix, res) + frag_section(ix)
             + skiplist_section(ix) + faults_section(ix))
    errors = [r for r in res["results"] if r.get("error")]
    if errors:
        text += "## Errors\n\n" + "".join(f"- `{r['name']}`: {r['error']}\n" for r in errors) + "\n"
    text += ("## How to reproduce\n\n```sh\nci/bench.sh          # quick: every suite, 3 repetitions (medians)\n"
             "ci/bench.sh --full   # 9 repetitions in 3 interleaved rounds, medians (the published one)\n"
             "ci/bench.sh --full --compare reports/<earlier report>   # plus 'Changes since'\n"
             "LFARENA_BENCH_SCALE=quick build/bench/bench/churn_bench --benchmark_filter='pessimistic'\n"
             "/usr/bin/python3 bench/report/generate.py --run-dir build/bench/runs/<stamp> --reports-dir reports\n```\n\n"
             f"This run: mode `{m.get('mode', '?')}`, commit `{m.get('git_commit', '?')}`. `raw/` "
             "keeps each suite's Google Benchmark JSON (every repetition and the aggregates; "
             "unchanged but for NaN, which JSON lacks, written as null) for tools that ingest it (compare.py, github-action-benchmark "
             "`googlecpp`, Bencher `cpp_google`); `results.json` here has every result "
             "normalised (name, suite, subject, params, ns/op, items/s, counters). `index.html` "
             "compares the freelist policies across every kept report.\n")
    return text
