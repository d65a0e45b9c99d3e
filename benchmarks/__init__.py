"""Benchmarks run by `make bench`; each reports ratios against a raw baseline measured in the same run."""
