"""bench/report/targets.py -- issue 16's speed targets, as data: each is the ratio of two rows'
ns/op (`num` over `den`) with a bound. tables.targets_section() judges them on a run's medians
and, when the run has them, on its back-to-back pairs (pairs.py, which measures these rows)."""
from dataclasses import dataclass

import names


@dataclass(frozen=True)
class Row:
    """One benchmark row: suite, subject, thread count and the name's other parameters (the
    registered iteration count left out, as names.parse_name does)."""
    suite: str
    subject: str
    threads: int
    params: tuple  # sorted ((name, value as a string), ...)

    def label(self):
        return f"{self.subject}, {self.threads} thread{'s' if self.threads != 1 else ''}"


def row(suite, subject, threads, **params):
    return Row(suite, subject, threads, tuple(sorted((k, str(v)) for k, v in params.items())))


@dataclass(frozen=True)
class Target:
    name: str
    num: Row
    den: Row
    target: float
    better: str  # "higher" or "lower": which side of `target` meets it
    how: str     # what the ratio is, in words
    failure_misses: bool = True  # lfarena's failed allocations miss it (else: n/a)

    def meets(self, value):
        return value >= self.target if self.better == "higher" else value <= self.target


def speed_targets(has_row):
    """The targets, in the report's order. has_row(Row) -> bool says which rows the run has: the
    segregated targets use the subject with thread chunks (its free caches need them) when the
    run has it, older runs plain lfarena-segregated. (The row's presence decides, not its time:
    a failed row must show as n/a, not switch the targets to the other subject.)"""
    out = []

    def add(*a, **k):
        out.append(Target(*a, **k))

    bump = lambda subj, t=1: row("bump", subj, t, size=64, align=8)  # noqa: E731
    add("bump, 1 thread, 64 B: lfarena-heap vs raw atomic fetch_add",
        bump("lfarena-heap"), bump("raw-atomic"), 1.25, "lower", "lfarena-heap ns / raw-atomic ns")
    add("bump, 1 thread, 64 B: thread-local chunks vs mimalloc",
        bump("mimalloc"), bump("lfarena-heap-tlc"), 3, "higher", "mimalloc ns / lfarena-heap-tlc ns")
    add("bump with chunks, 64 B: 2 threads vs 1", bump("lfarena-heap-tlc"),
        bump("lfarena-heap-tlc", 2), 1.7, "higher",
        "aggregate throughput ratio (1-thread ns / 2-thread ns per op)")
    seg = ("lfarena-segregated-tlc"
           if has_row(row("churn", "lfarena-segregated-tlc", 1, size="64", segments="1000"))
           else "lfarena-segregated")
    for size in ("64", "mixed"):
        for segs in ("1000", "20000", "100000"):
            for t in (1, 2):
                add(f"segregated churn, {size}, {int(segs) // 1000}k segments, "
                    f"{t} thread{'s' if t > 1 else ''}: vs mimalloc",
                    row("churn", "mimalloc", t, size=size, segments=segs),
                    row("churn", seg, t, size=size, segments=segs),
                    1, "higher", f"mimalloc ns / {seg} ns")
        add(f"segregated churn, {size}, 1k segments: 2 threads vs 1",
            row("churn", seg, 1, size=size, segments="1000"),
            row("churn", seg, 2, size=size, segments="1000"), 1.7, "higher",
            f"aggregate throughput ratio of {seg} (1-thread ns / 2-thread ns per pair)")
    for pol in ("optimistic", "pessimistic"):
        add(f"{pol} churn, 64 B: 100k vs 1k segments",
            row("churn", f"lfarena-{pol}", 1, size="64", segments="100000"),
            row("churn", f"lfarena-{pol}", 1, size="64", segments="1000"),
            2, "lower", f"lfarena-{pol} ns at 100k / at 1k")
        for size in ("64", "mixed"):
            add(f"{pol} cross-thread frees, {size}: vs glibc",
                row("xthread", "glibc", 2, size=size, batch="4096"),
                row("xthread", f"lfarena-{pol}", 2, size=size, batch="4096"),
                1, "higher", f"glibc ns / lfarena-{pol} ns per object")
    for size in ("64", "mixed"):
        add(f"segregated with chunks, cross-thread frees, {size}: vs mimalloc",
            row("xthread", "mimalloc", 2, size=size, batch="4096"),
            row("xthread", "lfarena-segregated-tlc", 2, size=size, batch="4096"),
            1, "higher", "mimalloc ns / lfarena-segregated-tlc ns per object")
    for pol in ("optimistic", "pessimistic"):
        add(f"{pol} size index vs linear scan, mixed, 100k segments",
            row("churn", f"lfarena-{pol}-linear", 1, size="mixed", segments="100000"),
            row("churn", f"lfarena-{pol}", 1, size="mixed", segments="100000"), 10, "higher",
            f"lfarena-{pol}-linear ns / lfarena-{pol} ns",
            failure_misses=False)  # the policy's failures say nothing of the index's speed
    return out



def row_of(name):
    """The Row a benchmark name is (names.parse_name: its iteration count left out)."""
    suite, subject, params = names.parse_name(name)
    threads = params.pop("threads", "1")
    ok = threads.isascii() and threads.isdigit() and len(threads) < 6  # int() takes it
    return row(suite, subject, int(threads) if ok else 0, **params)


def real(v):
    """Whether v is a number a float holds (not a bool, not NaN or infinite, no integer too
    large for a float): what a time, a count or a ratio read from JSON must be."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -1e308 < v < 1e308


def _count(v):
    """A side's failed operations as a number, or None when it is not one (then the pair has
    no ratio: an unreadable count must not pass for 0)."""
    return v if real(v) and v >= 0 else None


def pair_ratio(run):
    """One back-to-back pair's ratio (pairs.py: {"num": {"ns", "failures", "error"}, "den":
    ...}), or None when either side has no time, failed operations or an unreadable failure
    count (a failed allocation is not a completed operation), or the ratio is not a finite
    positive number."""
    try:
        a, b = run["num"], run["den"]
        fa, fb = _count(a.get("failures", 0)), _count(b.get("failures", 0))
        x, y = a.get("ns"), b.get("ns")
    except (AttributeError, KeyError, TypeError):
        return None
    if fa != 0 or fb != 0 or a.get("error") or b.get("error"):
        return None
    if not (real(x) and real(y) and x > 0 and y > 0):
        return None
    r = x / y
    return r if real(r) and r > 0 else None


def pairs_for(t, by_name):
    """The pairs.json entry measured for target t: the one of its name whose rows are t's own
    (a name alone could pin pairs of another subject on it), or None."""
    e = by_name.get(t.name)
    try:
        same = row_of(e["num"]) == t.num and row_of(e["den"]) == t.den
    except (AttributeError, KeyError, TypeError, ValueError):
        same = False
    return e if same else None


def paired(entry):
    """A target's pairs (its pairs.json entry): (median ratio of the pairs that have one, or
    None; every pair's ratio or None; per pair, the sides ("num", "den") that failed
    operations or whose count could not be read)."""
    runs = entry.get("runs") if isinstance(entry, dict) else None
    runs = runs if isinstance(runs, list) else []
    ratios = [pair_ratio(r) for r in runs]
    known = sorted(v for v in ratios if v is not None)
    n = len(known)
    median = None if n == 0 else known[n // 2] if n % 2 else (known[n // 2 - 1] + known[n // 2]) / 2

    def failed(r, side):
        return isinstance(r, dict) and isinstance(r.get(side), dict) and \
            _count(r[side].get("failures", 0)) != 0
    return median, ratios, [{s for s in ("num", "den") if failed(r, s)} for r in runs]


def decide(t, entry, planned=None):
    """What a target's pairs say (entry: pairs_for's, or None; planned: the pairs each target was
    to have, pairs.json's "pairs", or None): None when they decide nothing (no entry, or half the
    pairs or fewer have a ratio: half of those run or of those planned, whichever is more, so a
    pairs step stopped after a pair or two does not decide), else ("failed", pairs in which an
    lfarena side failed operations, pairs) when lfarena failed (it misses the target, or is n/a
    for a target with failure_misses False), or ("ratio", median, agreeing pairs, pairs with a
    ratio)."""
    if entry is None:
        return None
    median, ratios, failed_sides = paired(entry)
    ours = sum(1 for f in failed_sides if t.num.subject.startswith("lfarena") and "num" in f
               or t.den.subject.startswith("lfarena") and "den" in f)
    if ours:
        return ("failed", ours, len(ratios))
    known = [v for v in ratios if v is not None]
    expected = max(len(ratios), int(planned) if real(planned) and 0 < planned < 1e6 else 0)
    if median is None or 2 * len(known) <= expected:
        return None
    return ("ratio", median, sum(1 for v in known if t.meets(v) == t.meets(median)), len(known))


def clean_pairs(data):
    """pairs.json as the report can use it: None if it is no object; else {"targets": {name:
    entry} (string names; the first of a name kept), "pairs", "seconds", "repetitions"
    (positive numbers, or None), "scale" (a string or None), "errors": [strings]}."""
    if not isinstance(data, dict):
        return None

    def number(v):  # a count or a duration: positive, and small enough to print
        return v if real(v) and 0 < v < 1e12 else None
    by_name = {}
    for e in data.get("targets") if isinstance(data.get("targets"), list) else []:
        if isinstance(e, dict) and isinstance(e.get("name"), str):
            by_name.setdefault(e["name"], e)
    errors = data.get("errors")
    return {"targets": by_name, "pairs": number(data.get("pairs")),
            "seconds": number(data.get("seconds")),
            "repetitions": number(data.get("repetitions", 1)),
            "scale": data.get("scale") if isinstance(data.get("scale"), str) else None,
            "errors": [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []}
