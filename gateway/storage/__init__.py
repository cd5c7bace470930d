"""Storage: SQLAlchemy 2 typed tables, repositories and Alembic migrations.

Only this package knows SQL. It never commits: the service layer owns transactions.
"""
