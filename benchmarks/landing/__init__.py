"""Benchmarks on records that land: linked, mapped, decided, merged and audited (issue 14)."""
