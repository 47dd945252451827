"""Executors: local processes and Dask, with the same results."""
