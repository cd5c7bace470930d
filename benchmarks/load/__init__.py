"""The load test: ``spgw serve`` with gunicorn workers on PostgreSQL under locust, with the outbox
drained by two ``spgw deliver`` workers at the same time (see run_load.py)."""
