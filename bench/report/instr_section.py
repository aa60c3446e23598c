"""bench/report/instr_section.py -- the report's "Instructions per operation" section, from the
run's instructions.json (instructions.py): callgrind's counts of exactly the timed loop of chosen
1-thread rows, per operation."""
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


def section(data):
    """Markdown for report.md ("" for a run without instructions.json)."""
    if not data:
        return ""
    head = "## Instructions per operation (callgrind)\n\n"
    if data.get("skipped"):
        return head + f"Not counted in this run: {data['skipped']}.\n\n"
    rows = {}
    for r in data.get("rows", []):
        p = r.get("params", {})
        rows[(r["suite"], r["subject"], p.get("size"), p.get("segments"))] = r
    text = head + (
        f"Counted by {data.get('tool', 'callgrind')} over exactly the timed loop of one "
        f"1-thread run of each row at {data.get('scale', 'quick')} scale (the workload toggles "
        "collection on before its loop and off after it: `bench/counted_loop.hpp`, "
        "`bench/report/instructions.py`), divided by the loop's operations: the subject's calls "
        "plus the workload's own few instructions per operation, the same for every subject. "
        "Unlike the times above, these counts do not depend on the VM's state (two runs of the "
        "same binary gave every row's count to within 0.001 instructions but jemalloc's bump "
        "row, whose purging follows the clock: within 3%); they are not times "
        "either: a cache miss costs more than a hundred instructions, and a locked instruction "
        "tens. A row with failed allocations shows how many (a failed call is cheap) and takes no "
        "part in a ratio.\n\n")
    churn = _subjects(rows, "churn", CHURN)
    if churn:
        body = [[s] + [_fmt(rows.get(("churn", s, size, segs))) for size, segs in SHAPES]
                for s in churn]
        ours = "lfarena-segregated-tlc"
        for peer in ("mimalloc", "jemalloc"):
            if ours in churn and peer in churn:
                body.append([f"{ours} / {peer}"] + [
                    _ratio(rows.get(("churn", ours, size, segs)), rows.get(("churn", peer, size, segs)))
                    for size, segs in SHAPES])
        text += ("### Churn: per free+allocate pair\n\n"
                 + table(["subject"] + [f"{'64 B' if size == '64' else size} {int(segs) // 1000}k"
                                        for size, segs in SHAPES], body) + "\n")
        growth = []
        for s in churn:
            lo, hi = rows.get(("churn", s, "64", "1000")), rows.get(("churn", s, "64", "100000"))
            if lo and hi and not lo.get("failures") and not hi.get("failures"):
                growth.append(f"{s} {hi['per_op'] / lo['per_op']:.2f}x")
        if growth:
            text += ("Instructions per 64 B pair at 100k segments over those at 1k: "
                     + ", ".join(growth) + ". Where a policy's count stays flat while its time "
                     "grows with the segments (section 'Churn' below), the growth is the memory "
                     "a larger free set spreads over, not more work per operation.\n\n")
    bump = _subjects(rows, "bump", BUMP)
    if bump:
        raw, mi = rows.get(("bump", "raw-atomic", "64", None)), rows.get(("bump", "mimalloc", "64", None))
        body = [[s, _fmt(rows.get(("bump", s, "64", None))),
                 _ratio(rows.get(("bump", s, "64", None)), raw),
                 _ratio(rows.get(("bump", s, "64", None)), mi)] for s in bump]
        text += ("### Bump: per 64 B allocation\n\n"
                 + table(["subject", "instructions", "vs raw-atomic", "vs mimalloc"], body) + "\n")
    errors = data.get("errors") or []
    if errors:
        text += "Rows not counted:\n\n" + "".join(f"- {e}\n" for e in errors) + "\n"
    return text
