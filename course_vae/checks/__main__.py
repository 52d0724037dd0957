"""``python -m course_vae.checks NOTEBOOK...``: check the exercises of notebooks."""

from __future__ import annotations

import argparse
import sys

from . import run_notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_vae.checks", description=__doc__)
    parser.add_argument("notebooks", nargs="+", help="e.g. exercises/01_autoencoders.ipynb")
    args = parser.parse_args(argv)
    failed = 0

    def report(name: str, failure: str | None) -> None:
        nonlocal failed
        if failure is not None:
            failed += 1
            print(f"✗ {failure}", flush=True)

    for notebook in args.notebooks:
        if len(args.notebooks) > 1:
            print(f"== {notebook}", flush=True)
        try:
            run_notebook(notebook, report)
        except (ValueError, OSError) as err:  # not a chapter notebook, unreadable: go on to the next one
            failed += 1
            print(f"✗ {notebook}: {err}", flush=True)
    print(f"{failed} exercise(s) failed" if failed else "all exercises pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
