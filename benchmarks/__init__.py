"""Latency, compute, xrun and separation-quality benchmarks; results go to benchmarks/results/."""
