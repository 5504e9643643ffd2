"""Secrets Manager rows: tables.py (schema) and repository.py (queries and writes)."""
