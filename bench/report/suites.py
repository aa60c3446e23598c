"""bench/report/suites.py -- the built bench suites and their rows, for the tools that run rows
one at a time (instructions.py under callgrind, pairs.py back to back)."""
import os
import re
import subprocess

LIST_TIMEOUT = 60  # seconds for a suite to list its tests


def rows(bench_dir, env, errors):
    """(binary path, benchmark name) of every row of every suite (an executable *_bench) in
    bench_dir, from each suite's --benchmark_list_tests run in `env`; a suite that cannot list
    its tests is named in `errors`."""
    out = []
    for exe in sorted(os.listdir(bench_dir)) if os.path.isdir(bench_dir) else []:
        path = os.path.join(bench_dir, exe)
        if not exe.endswith("_bench") or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        try:
            names = subprocess.run([path, "--benchmark_list_tests"], capture_output=True,
                                   text=True, env=env, timeout=LIST_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as e:
            errors.append(f"{exe} --benchmark_list_tests: {e}")
            continue
        if names.returncode != 0:
            errors.append(f"{exe} --benchmark_list_tests: exit {names.returncode}")
            continue
        out += [(path, n) for n in names.stdout.split()]
    return out


def gb_escape(name):
    """`name` as a literal in Google Benchmark's filter (std::regex, which refuses Python's
    escape of '-'): only the regex operators are escaped."""
    return re.sub(r"([.^$|?*+()\[\]{}\\])", r"\\\1", name)
