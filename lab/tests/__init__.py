"""Tests of the lab code: ``python -m pytest lab/tests`` from the repository root."""
