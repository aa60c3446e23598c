#!/usr/bin/python3
"""bench/report/check_dashboard.py -- render benchmark dashboards (index.html) in headless Chromium
and fail on a JavaScript error or an empty chart.

  check_dashboard.py reports/latest/index.html [more.html ...] [--screenshot out.png]

For each page: a copy with a small driver appended (after load it selects every option of every
<select>, so the change handlers run too, then restores the first view) is loaded by Chromium
(Debian's `chromium`; $CHROMIUM overrides) from file:// with the network off; timers get 2 s of
virtual time; then the DOM is printed (--dump-dom). The page fails when
  - Chromium logs an uncaught exception (its console goes to stderr with --enable-logging), or the
    page's own error hook wrote into #js-errors;
  - an <svg class="chart"> holds no data point (class "mark") or says "no data";
  - a <table class="data"> has no row below its header, or a #meta line is empty.
Exit status 0 if every page passes, 1 if one fails, 2 if Chromium cannot run or prints no page
(a missing browser is an error, not a pass)."""
import argparse
import html.parser
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

# The flags the machine notes prescribe for a closed network: without the background-networking
# ones Chromium keeps trying to reach Google's hosts.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000"]

# Appended to a copy of the page: runs every select's change handler once per option, then puts
# the first view back, so an error in a handler that load never runs is found too.
DRIVER = """<script>window.addEventListener('load', () => {
  for (const s of document.querySelectorAll('select')) {
    const first = s.value;
    for (const o of Array.from(s.options)) { s.value = o.value; s.dispatchEvent(new Event('change')); }
    s.value = first; s.dispatchEvent(new Event('change'));
  }
});</script>"""


class DomScan(html.parser.HTMLParser):
    """Counts the marks of every chart, the rows of every data table, and collects error text."""

    def __init__(self):
        super().__init__()
        self.stack = []  # open elements: (tag, id, classes)
        self.charts, self.tables = {}, {}
        self.errors, self.meta, self.empty_text = "", "", set()

    def _inside(self, kind):
        for tag, ident, classes in reversed(self.stack):
            if kind == "chart" and tag == "svg" and "chart" in classes:
                return ident
            if kind == "table" and tag == "table" and "data" in classes:
                return ident
        return None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        line, col = self.getpos()
        ident = a.get("id") or f"{tag}@{line}:{col}"
        if tag == "svg" and "chart" in classes:
            self.charts.setdefault(ident, 0)
        if tag == "table" and "data" in classes:
            self.tables.setdefault(ident, 0)
        chart = self._inside("chart")
        if chart is not None and "mark" in classes:
            self.charts[chart] += 1
        table = self._inside("table")
        if table is not None and tag == "tr":
            self.tables[table] += 1
        if tag not in ("circle", "line", "polyline", "br", "i", "meta", "input", "path", "rect"):
            self.stack.append((tag, ident, classes))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self.stack:
            return
        tag, ident, classes = self.stack[-1]
        if ident == "js-errors":
            self.errors += data
        elif ident == "meta":
            self.meta += data
        elif tag == "text" and "empty" in classes:
            chart = self._inside("chart")
            if chart is not None:
                self.empty_text.add(chart)


def render(exe, page, extra=()):
    """(dom, console error lines) of a page (with DRIVER) after its scripts ran."""
    with open(page, encoding="utf-8") as f:
        html = f.read()
    cut = html.rfind("</body>")
    html = (html[:cut] + DRIVER + html[cut:]) if cut >= 0 else html + DRIVER
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "page.html")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(html)
        try:
            p = subprocess.run([exe, *FLAGS, f"--user-data-dir={os.path.join(tmp, 'profile')}",
                                *extra, "--dump-dom", pathlib.Path(copy).as_uri()],
                               capture_output=True, text=True, timeout=120)
        except OSError as e:
            raise RuntimeError(f"cannot run {exe}: {e}") from e
    if "<html" not in p.stdout.lower():
        raise RuntimeError(f"{exe} printed no page (exit {p.returncode}): "
                           f"{p.stderr.strip()[-400:]}")
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line and "Uncaught" in line]
    return p.stdout, console


def check(exe, page):
    """The list of problems of one page (empty: it passes)."""
    dom, console = render(exe, page)
    problems = [f"JavaScript error: {line.split('] ', 1)[-1]}" for line in console]
    scan = DomScan()
    scan.feed(dom)
    if scan.errors.strip():
        problems += [f"JavaScript error (page hook): {e}" for e in scan.errors.strip().splitlines()]
    if not scan.charts:
        problems.append("no <svg class=\"chart\"> at all")
    for chart, marks in sorted(scan.charts.items()):
        if marks == 0 or chart in scan.empty_text:
            problems.append(f"empty chart #{chart} ({marks} data points)")
    for table, rows in sorted(scan.tables.items()):
        if rows < 2:
            problems.append(f"empty table #{table} ({rows} rows)")
    if not scan.meta.strip():
        problems.append("#meta is empty: the script did not run to its first line")
    return problems, scan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("pages", nargs="+")
    ap.add_argument("--screenshot", help="also write a PNG of the first page")
    a = ap.parse_args()
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("check_dashboard.py: no chromium found (Debian package chromium, installed by "
              "ci/deps.sh; or set CHROMIUM)", file=sys.stderr)
        return 2
    failed = 0
    for page in a.pages:
        if not os.path.isfile(page):
            print(f"FAIL {page}: no such file")
            failed += 1
            continue
        try:
            problems, scan = check(exe, page)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"check_dashboard.py: {page}: {e}", file=sys.stderr)
            return 2
        if problems:
            failed += 1
            print(f"FAIL {page}:\n" + "".join(f"  - {p}\n" for p in problems), end="")
        else:
            print(f"ok   {page}: {len(scan.charts)} charts ("
                  + ", ".join(f"{c} {n}" for c, n in sorted(scan.charts.items()))
                  + f" points), {len(scan.tables)} tables, no JavaScript error")
    if a.screenshot:
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,3000",
                            f"--screenshot={os.path.abspath(a.screenshot)}",
                            pathlib.Path(a.pages[0]).resolve().as_uri()],
                           capture_output=True, timeout=120)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
