"""Public data sets psyprofile can obtain for its users (e.g. the DLATK tutorial corpus)."""
