"""Benchmarks: fabnb against the anchor libraries, same data, one run. `python -m benchmarks`."""
