"""Watching a deployed model in real use: input and score drift, live performance, alerts, the inference log."""
