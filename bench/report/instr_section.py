"""bench/report/instr_section.py -- the report's "Instructions per operation" section, from the
run's instructions.json (instructions.py): callgrind's counts of exactly the timed loop of chosen
1-thread rows, per operation."""
import math

from mdtable import table

SHAPES = [(size, segs) for size in ("64", "mixed") for segs in ("1000", "20000", "100000")]
# The subjects instructions.py counts, in the order the tables show them.
CHURN = ("lfarena-segregated-tlc", "lfarena-segregated", "lfarena-pessimistic",
         "lfarena-optimistic", "glibc", "jemalloc", "mimalloc", "tcmalloc")
BUMP = ("lfarena-heap", "lfarena-heap-tlc", "raw-atomic", "raw-local",
        "glibc", "jemalloc", "mimalloc", "tcmalloc")


def _subjects(rows, suite, order):
    seen = {k[1] for k in rows if k[0] == suite}
    return [s for s in order if s in seen] + sorted(seen - set(order))


def _fmt(row):
    if row is None:
        return "n/a"
    text = f"{row['per_op']:.0f}"
    return text + (f" ({row['failures']} failed)" if row.get("failures") else "")


def _ratio(a, b):
    ok = a and b and not a.get("failures") and not b.get("failures") and b["per_op"] > 0
    return f"{a['per_op'] / b['per_op']:.2f}x" if ok else "n/a"


def _good_row(r):
    """A row as instructions.py writes it: 1-thread, a finite positive count per operation."""
    if not isinstance(r, dict) or not isinstance(r.get("params"), dict):
        return False
    per_op, failures = r.get("per_op"), r.get("failures", 0)
    return (isinstance(r.get("suite"), str) and isinstance(r.get("subject"), str)
            and r["params"].get("threads", "1") == "1"
            and isinstance(per_op, (int, float)) and not isinstance(per_op, bool)
            and math.isfinite(per_op) and per_op > 0
            and isinstance(failures, int) and not isinstance(failures, bool) and failures >= 0)


def section(data):
    """Markdown for report.md ("" for a run without instructions.json). A malformed file (not
    instructions.py's: edited by hand, another version) is said so, never a traceback: its bad
    rows are left out and counted."""
    if data is None:
        return ""
    head = "## Instructions per operation (callgrind)\n\n"
    if not isinstance(data, dict):
        return head + "Left out: instructions.json is not a JSON object.\n\n"
    if data.get("skipped"):
        return head + f"Not counted in this run: {data['skipped']}.\n\n"
    listed = data.get("rows") if isinstance(data.get("rows"), list) else []
    errors = data.get("errors")
    errors = [str(e) for e in errors] if isinstance(errors, list) else [] if errors is None else [str(errors)]
    bad = len(listed) - sum(map(_good_row, listed))
    if not isinstance(data.get("rows"), list):
        errors.append("instructions.json has no list of rows")
    elif bad:
        errors.append(f"{bad} malformed row(s) of instructions.json left out")
    rows = {}
    for r in filter(_good_row, listed):
        p = r["params"]
        rows[(r["suite"], r["subject"], p.get("size"), p.get("segments"), p.get("align"))] = r
    if not rows:  # nothing to describe: only what went wrong
        return head + "No counts in this run:\n\n" + "".join(f"- {e}\n" for e in errors) + "\n"
    text = head + (
        f"Counted by {data.get('tool', 'callgrind')} over exactly the timed loop of one "
        f"1-thread run of each row at {data.get('scale', 'quick')} scale (the workload toggles "
        "collection on before its loop and off after it: `bench/counted_loop.hpp`, "
        "`bench/report/instructions.py`), divided by the loop's operations: the subject's calls "
        "plus the workload's own few instructions per operation, the same for every subject. "
        "Unlike the times above, these counts hardly depend on the VM's state: three runs of the "
        "same binary gave every row's count to within 0.05 instructions, but for jemalloc, whose "
        "clock-driven purging does more or less work as valgrind's slowdown and the machine's "
        "load vary (its 64 B bump row, 2026-12-05: 191 to 205). They are not times either: a cache miss "
        "costs as much as a hundred or more instructions, and a locked instruction tens. A row "
        "with failed allocations shows how many, and takes no part in a ratio: a failed call is "
        "not a completed operation, and its cost is whatever search failed (2026-12-05: "
        "lfarena-optimistic mixed at 1k segments about 2850 per pair, 84% of its allocations "
        "failed, against 912 for its 64 B pairs, none failed).\n\n")
    churn = _subjects(rows, "churn", CHURN)
    if churn:
        body = [[s] + [_fmt(rows.get(("churn", s, size, segs, None))) for size, segs in SHAPES]
                for s in churn]
        ours = "lfarena-segregated-tlc"
        for peer in ("mimalloc", "jemalloc"):
            if ours in churn and peer in churn:
                body.append([f"{ours} / {peer}"] + [
                    _ratio(rows.get(("churn", ours, size, segs, None)),
                           rows.get(("churn", peer, size, segs, None)))
                    for size, segs in SHAPES])
        text += ("### Churn: per free+allocate pair\n\n"
                 + table(["subject"] + [f"{'64 B' if size == '64' else size} {int(segs) // 1000}k"
                                        for size, segs in SHAPES], body) + "\n")
        growth = []
        for s in churn:
            lo = rows.get(("churn", s, "64", "1000", None))
            hi = rows.get(("churn", s, "64", "100000", None))
            if lo and hi and not lo.get("failures") and not hi.get("failures"):
                growth.append(f"{s} {hi['per_op'] / lo['per_op']:.2f}x")
        if growth:
            text += ("Instructions per 64 B pair at 100k segments over those at 1k: "
                     + ", ".join(growth) + ". Where a policy's count stays flat while its time "
                     "grows with the segments (section 'Churn' below), the growth is the memory "
                     "a larger free set spreads over, not more work per operation.\n\n")
    bump = _subjects(rows, "bump", BUMP)
    if bump:
        at = lambda subject: rows.get(("bump", subject, "64", None, "8"))  # noqa: E731
        raw, mi = at("raw-atomic"), at("mimalloc")
        body = [[s, _fmt(at(s)), _ratio(at(s), raw), _ratio(at(s), mi)] for s in bump]
        text += ("### Bump: per 64 B allocation\n\n"
                 + table(["subject", "instructions", "vs raw-atomic", "vs mimalloc"], body) + "\n")
    if errors:
        text += "Rows not counted:\n\n" + "".join(f"- {e}\n" for e in errors) + "\n"
    return text
