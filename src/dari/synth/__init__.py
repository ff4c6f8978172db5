"""Synthetic Korean hospital network: source EMR extracts with identifiers, and their clinical content."""
