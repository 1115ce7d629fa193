"""Helpers for the "Neural Collaborative Filtering, step by step" notebook series."""
