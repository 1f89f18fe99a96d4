"""The engines behind ``manage.py bench``: ShelfWise-specific benchmarks (they know the
catalog's tables, indexes and selectors), measured with perf's generic helpers."""
