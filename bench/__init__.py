"""Benchmarks: Switchboard against a hand-written baseline, in the same run (``python -m bench``).

Each scenario runs on its own OpenBao (dev, with a file audit device to count Vault operations),
sandbox and Prefect server (SQLite) on free loopback ports. Raw results land in
``bench/results/``; ``BENCHMARKS.md`` records a run with the machine it ran on.
"""
