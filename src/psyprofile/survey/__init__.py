"""Questionnaires: public-domain IPIP inventories, their scoring, reliability and careless-response checks."""
