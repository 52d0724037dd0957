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
    for notebook in args.notebooks:
        try:
            results = run_notebook(notebook)
        except (ValueError, FileNotFoundError) as err:
            parser.error(str(err))
        for failure in results.values():
            if failure is not None:
                failed += 1
                print(f"✗ {failure}")
    print(f"{failed} exercise(s) failed" if failed else "all exercises pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
