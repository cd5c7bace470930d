"""The pure core: values in, values out.

No Flask, SQLAlchemy, click, files, clock or network here (see README.md in this folder);
import-linter enforces it.
"""
