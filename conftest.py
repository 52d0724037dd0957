"""Repository-wide pytest hooks: report how long each notebook takes.

nbval runs every notebook of book/, exercises/ and solutions/ cell by cell; this adds up
the time of each notebook's cells (kernel start included) and prints a table at the end,
marking notebooks over the course's time budget. Budgets are reported, not asserted:
timings depend on the machine.
"""

from __future__ import annotations

from collections import defaultdict

BUDGET_SECONDS = {"book": 90, "exercises": 60, "solutions": 60}
_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _seconds:
        return
    terminalreporter.section("notebook durations (budget: chapter 90 s, exercise or solution 60 s)")
    for path, seconds in sorted(_seconds.items()):
        budget = BUDGET_SECONDS.get(path.split("/", 1)[0])
        flag = f"   OVER BUDGET ({budget} s)" if budget is not None and seconds > budget else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")
    terminalreporter.write_line(f"{sum(_seconds.values()):7.1f} s  all {len(_seconds)} notebooks")
