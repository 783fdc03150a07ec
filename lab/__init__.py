"""Experiments that did not ship: not installed with unsing (see lab/README.md)."""
