"""Success Plan Gateway: one consented Success Plan per student, from many standards."""

__version__ = "0.1.0"
