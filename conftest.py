"""Repository-wide pytest hooks.

1. Report how long each notebook takes. nbval runs every notebook of book/, exercises/
   and solutions/ cell by cell; this adds up the time of each notebook's cells (kernel
   start included) and prints a table at the end, marking notebooks over the course's
   time budget. Budgets are reported, not asserted: timings depend on the machine.

2. One torch thread per pytest-xdist worker. With ``-n 2`` on two cores, two workers
   with two threads each would spin-wait against each other; each worker (and every
   notebook kernel it starts, which inherits the environment) gets its share of the
   cores. An ``OMP_NUM_THREADS`` set by the user wins.

3. The book build reuses the chapters that nbval executed. When every cell of a
   notebook in ``book/`` passes, the notebook with the outputs that nbval collected
   (and the final state of its widgets, as nbclient would save it) is stored in the
   jupyter-cache at ``_build/.jupyter_cache``, which ``jupyter-book build`` reads
   (``execute_notebooks: cache`` in ``_config.yml``). So CI executes each chapter once,
   under nbval, and the built book shows exactly those outputs. A notebook whose code
   changed no longer matches its cache entry and the build executes it again.
"""

from __future__ import annotations

import base64
import os
import time
from collections import defaultdict
from pathlib import Path

BUDGET_SECONDS = {"book": 90, "exercises": 60, "solutions": 60}
BOOK_DIR = "book"  # notebooks under this directory (relative to the rootdir) are cached
CACHE_DIR = Path("_build") / ".jupyter_cache"  # jupyter-book's default cache location
STAGING_DIR = Path("_build") / ".nbval_executed"  # workers write here, the main process imports

_seconds: dict[str, float] = defaultdict(float)
_failed: set[str] = set()

if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "OMP_NUM_THREADS" not in os.environ:
    # set before any test module imports torch; kernels started by nbval inherit it
    _workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _workers))


# ---- 1. durations -------------------------------------------------------------------


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration
        if report.failed:
            _failed.add(path)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _seconds:
        return
    terminalreporter.section("notebook durations (budget: chapter 90 s, exercise or solution 60 s)")
    for path, seconds in sorted(_seconds.items()):
        budget = BUDGET_SECONDS.get(path.split("/", 1)[0])
        flag = f"   OVER BUDGET ({budget} s)" if budget is not None and seconds > budget else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")
    terminalreporter.write_line(f"{sum(_seconds.values()):7.1f} s  all {len(_seconds)} notebooks")


# ---- 3. executed chapters into the book's cache -------------------------------------


def _widget_state_recorder() -> None:
    """Make nbval's notebook collector keep the widget state that the kernel sends.

    nbval reads every iopub message of a notebook through ``IPyNbFile.get_kernel_message``
    and skips the comm messages; nbclient (which the book build would otherwise use)
    keeps the last ``state`` of each widget model and its binary buffers. This wrapper
    does the same, per notebook, so the cached notebook carries it.
    """
    from nbval.plugin import IPyNbFile

    if getattr(IPyNbFile.get_kernel_message, "_records_widgets", False):
        return
    original = IPyNbFile.get_kernel_message

    def get_kernel_message(self, *args, **kwargs):
        msg = original(self, *args, **kwargs)
        if msg.get("msg_type") in ("comm_open", "comm_msg"):
            content = msg.get("content", {})
            data = content.get("data", {})
            if "state" in data:  # a widget model's state (custom messages have none)
                states = self.__dict__.setdefault("_widget_state", {})
                states.setdefault(content["comm_id"], {}).update(data["state"])
                buffers = self.__dict__.setdefault("_widget_buffers", {}).setdefault(content["comm_id"], {})
                for path, buffer in zip(data.get("buffer_paths") or [], msg.get("buffers") or []):
                    buffers[tuple(path)] = {
                        "data": base64.b64encode(bytes(buffer)).decode("ascii"),
                        "encoding": "base64",
                        "path": path,
                    }
        return msg

    get_kernel_message._records_widgets = True
    IPyNbFile.get_kernel_message = get_kernel_message


def pytest_configure(config) -> None:
    if config.pluginmanager.hasplugin("nbval"):
        _widget_state_recorder()


def _executed_notebook(nbfile, items):
    """A copy of the notebook nbval collected, with the outputs of its cells (``items``,
    in order) and the widget state, as nbclient would have written it."""
    import nbformat

    nb = nbformat.reads(nbformat.writes(nbfile.nb), as_version=4)  # a copy
    outputs = {item.cell_num: item.test_outputs for item in items}
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells):
        cell.execution_count = number + 1
        cell.outputs = [nbformat.from_dict(dict(out)) for out in outputs[number]]
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = number + 1
    states = nbfile.__dict__.get("_widget_state", {})
    buffers = nbfile.__dict__.get("_widget_buffers", {})
    serialized = {}
    for model_id, state in states.items():
        if "_model_name" not in state:
            continue
        serialized[model_id] = {
            "model_name": state.get("_model_name"),
            "model_module": state.get("_model_module"),
            "model_module_version": state.get("_model_module_version"),
            "state": state,
        }
        if buffers.get(model_id):
            serialized[model_id]["buffers"] = list(buffers[model_id].values())
    if serialized:
        nb.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {"state": serialized, "version_major": 2, "version_minor": 0}
        }
    return nb


def _book_notebook(item) -> str | None:
    """The rootdir-relative path of the book notebook that ``item`` is a cell of, else None."""
    if type(item).__name__ != "IPyNbCell":
        return None
    path = Path(str(item.parent.fspath)).resolve()
    try:
        relative = path.relative_to(Path(str(item.config.rootpath)).resolve())
    except ValueError:
        return None
    return relative.as_posix() if relative.parts[0] == BOOK_DIR else None


def pytest_runtest_teardown(item, nextitem) -> None:
    """After the last cell of a book notebook: stage it, executed, if every cell passed."""
    relative = _book_notebook(item)
    if relative is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    items = [i for i in item.session.items if i.parent is item.parent]
    nodeid_path = item.nodeid.split("::", 1)[0]
    if nodeid_path in _failed or any(i.test_outputs is None for i in items):
        return  # a cell failed or did not run: the build must execute this notebook itself
    import nbformat

    nb = _executed_notebook(item.parent, items)
    nb.metadata["nbval_seconds"] = round(_seconds[nodeid_path], 2)
    staged = Path(str(item.config.rootpath)) / STAGING_DIR / relative
    staged.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, staged)


def pytest_sessionfinish(session) -> None:
    """In the main process (after every xdist worker is done): staged notebooks -> cache."""
    if hasattr(session.config, "workerinput"):
        return
    root = Path(str(session.config.rootpath))
    staged = sorted((root / STAGING_DIR).rglob("*.ipynb"))
    if not staged:
        return
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(root / CACHE_DIR)
    for path in staged:
        nb = nbformat.read(path, as_version=4)
        seconds = nb.metadata.pop("nbval_seconds", None)
        source = root / path.relative_to(root / STAGING_DIR)
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(source), data={"execution_seconds": seconds, "executed_by": "nbval"}),
            check_validity=False,
            overwrite=True,
        )
        path.unlink()
