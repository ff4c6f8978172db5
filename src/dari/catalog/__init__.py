"""Catalog: what a site's data hold, described without rows (characterisation, dataset records)."""
