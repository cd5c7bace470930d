"""Orchestration: the only layer that opens transactions. Thin shells (cli, web) call it."""
