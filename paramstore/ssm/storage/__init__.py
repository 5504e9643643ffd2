"""The Parameter Store's storage: its tables (tables.py) and the hand-written SQL of its
hot paths (hot_sql.py).  With kms_core/storage, the only place that speaks SQL."""
