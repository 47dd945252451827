"""Keyed pseudonymisation, minimum group size and differential privacy."""
