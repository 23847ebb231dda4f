"""Benchmarks and the synthetic traffic generator with ground truth."""
