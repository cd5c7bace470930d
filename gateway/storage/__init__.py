"""Storage: typed tables, the stores of each aggregate (one module per aggregate) and Alembic migrations."""

Only this package knows SQL. It never commits: the service layer owns transactions.
"""
