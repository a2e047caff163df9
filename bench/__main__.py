"""Run every ``bench/bench_*.py`` (or those named on the command line) and print one table.

Each module defines ``run() -> list[dict]`` whose rows have the keys: ``benchmark``, ``case``,
``value`` (float), ``unit``, and optionally ``baseline`` (the same measure of the reference strategy
in the same run) so the table shows ``ratio = value / baseline``.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows: list[dict] = []
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(module.run())
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    headers = ["benchmark", "case", "value", "unit", "baseline", "ratio"]
    table = []
    for r in rows:
        base = r.get("baseline")
        ratio = f"{r['value'] / base:.2f}x" if base else ""
        table.append([r["benchmark"], r["case"], _fmt(r["value"]), r["unit"], _fmt(base) if base else "", ratio])
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(headers)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |")
    return 0


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
