"""Benchmarks of the hub; ``python -m bench`` runs them all (bench/README.md)."""
