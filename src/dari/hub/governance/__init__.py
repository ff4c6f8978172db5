"""Governance at the hub: users and roles, study applications, joint DRB review, access grants."""
