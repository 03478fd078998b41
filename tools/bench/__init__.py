"""Benchmarks: measurements against a running testbed, kept out of CI.

Each module is one benchmark with a ``main(argv)``; ``bench/<name>`` at the project root
is the executable a user runs (``bench/peer --help``). Pure logic (statistics, tables,
critical paths) lives in functions that the unit tests exercise without a cluster.
"""
