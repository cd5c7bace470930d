"""Storage: typed tables, one store module per aggregate, and Alembic migrations.

Only this package knows SQL. It never commits: the service layer owns transactions.
"""
