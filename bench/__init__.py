"""modelroute's benchmarks: `python -m bench.run` (or `make bench`) runs them all.

One module per benchmark (`overhead`, `http_throughput`, `memory`, `decision_cost`); each
exposes `run(quick: bool) -> dict` and writes nothing itself: `bench.run` writes
`bench/results/<name>.json` and prints the summary. Times are medians of repeated,
interleaved batches, so a busy machine slows every contender alike.
"""
