"""Differential language analysis, group aggregation, comparisons and trends."""
