"""Run a command while ``--procs`` busy loops keep the machine's cores loaded, the way ``stress-ng
--cpu N`` does (one pure-Python spin per process, no I/O): how ``make test-loaded`` shows the suite
holds on a busy machine.

Usage: ``python -P tests/under_load.py [--procs N] -- COMMAND ARGS...``; exits with the command's code.
The busy processes are killed when the command ends, however it ends.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

SPIN = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    """Start ``--procs`` spinning processes, run the command after ``--``, stop the spinners, print the
    command's wall time in seconds and return its exit code (2 for a usage error)."""
    parser = argparse.ArgumentParser(prog="tests/under_load.py")
    parser.add_argument("--procs", type=int, default=4, help="busy processes beside the command (default 4)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.procs < 0:
        parser.error("give --procs >= 0 and a command after --")
    spinners = [subprocess.Popen([sys.executable, "-P", "-c", SPIN]) for _ in range(args.procs)]
    start = time.monotonic()
    try:
        code = subprocess.call(command)
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()
    print(
        f"under_load: {' '.join(command)} exited {code} after {time.monotonic() - start:.0f} s "
        f"beside {args.procs} busy processes",
        file=sys.stderr,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
