"""Benchmarks: each module with a `main()` prints its figures; `python -m bench` runs them all."""
