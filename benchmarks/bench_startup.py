"""Start-up time of the `invert` commands a user types most (a benchmark, not a test).

    python benchmarks/bench_startup.py [--runs 7] [--workspace invert-workspace]

Times ``invert --help``, ``invert explain --help``, ``invert query --list``, ``invert sql "select 1"``
and ``invert query runs_overview``, and beside them ``python -c "import duckdb, pyarrow"`` (what the
warehouse commands cannot do without): wall time from starting the process to its exit, the median
of ``--runs`` runs, once as the machine is and once with every core kept busy by an added process (a
spinning Python loop per core). Targets: ``invert --help`` within 1.5 times the import of DuckDB and
pyarrow in both conditions; every command at most 1 s on a 2-core CPU with no added load.

Without ``--workspace`` the queries run on a fresh warehouse holding the schema and no runs (what
start-up costs does not depend on the rows); with it, on that workspace's warehouse.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TARGET_S = 1.0
HELP_TARGET_RATIO = 1.5  # invert --help against the baseline
BASELINE = 'python -c "import duckdb, pyarrow"'


def invert_command() -> list[str]:
    """The installed ``invert`` script of this interpreter's environment (what users run)."""
    script = Path(sys.executable).with_name("invert")
    found = str(script) if script.is_file() else shutil.which("invert")
    if found is None:
        raise SystemExit("no `invert` command found: install the package (pip install -e .)")
    return [found]


def commands(workspace: Path) -> dict[str, list[str]]:
    """The timed command lines, by how the table names them."""
    invert = invert_command()
    location = ["--workspace", str(workspace)]
    return {
        BASELINE: [sys.executable, "-c", "import duckdb, pyarrow"],
        "invert --help": [*invert, "--help"],
        "invert explain --help": [*invert, "explain", "--help"],
        "invert query --list": [*invert, "query", "--list"],
        'invert sql "select 1"': [*invert, "sql", "select 1", *location],
        "invert query runs_overview": [*invert, "query", "runs_overview", *location],
    }


def wall_time(argv: list[str]) -> float:
    """Seconds from starting ``argv`` to its exit (which must be 0)."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_times(runs: int, workspace: Path) -> dict[str, float]:
    """The median wall time of each command over ``runs`` runs (after one untimed warm-up run)."""
    medians = {}
    for name, argv in commands(workspace).items():
        wall_time(argv)  # warm the file cache
        medians[name] = statistics.median(wall_time(argv) for _ in range(runs))
    return medians


@contextmanager
def busy_cores() -> Iterator[int]:
    """One spinning Python process per core while the block runs; yields their number."""
    count = os.cpu_count() or 1
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them reach full speed
        yield count
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@contextmanager
def warehouse_workspace(given: str | None) -> Iterator[Path]:
    """``given``, else a temporary workspace whose warehouse holds the schema and no runs."""
    if given is not None:
        yield Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        subprocess.run([*invert_command(), "warehouse", "rebuild", "--workspace", folder], check=True,
                       stdout=subprocess.DEVNULL)
        yield Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command and condition (default 7)")
    parser.add_argument("--workspace", default=None, help="query this workspace's warehouse (default: an empty one)")
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with warehouse_workspace(args.workspace) as workspace:
        idle = median_times(args.runs, workspace)
        with busy_cores() as n_busy:
            loaded = median_times(args.runs, workspace)

    loaded_header = f"+{n_busy} busy processes (s)"
    width = max(map(len, idle))
    print(f"invert start-up, median of {args.runs} runs, wall time from process start to exit "
          f"({os.cpu_count()} cores, target {TARGET_S:.0f} s)")
    idle_header = "no added load (s)"
    print(f"{'command':<{width}}  {idle_header}  {loaded_header}")
    for name in idle:
        print(f"{name:<{width}}  {idle[name]:>{len(idle_header)}.2f}  {loaded[name]:>{len(loaded_header)}.2f}")
    slowest = max(idle.values())
    print(f"slowest with no added load: {slowest:.2f} s ({'meets' if slowest <= TARGET_S else 'misses'} the target)")
    for condition, medians in (("no added load", idle), (f"+{n_busy} busy processes", loaded)):
        ratio = medians["invert --help"] / medians[BASELINE]
        verdict = "meets" if ratio <= HELP_TARGET_RATIO else "misses"
        print(f"invert --help / {BASELINE}, {condition}: {ratio:.2f} ({verdict} the target {HELP_TARGET_RATIO})")


if __name__ == "__main__":
    main()
