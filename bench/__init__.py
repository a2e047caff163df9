"""Benchmarks run by ``make bench``. Each ``bench_*.py`` module defines ``run() -> list[Row]``."""
