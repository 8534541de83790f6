"""Governance: pre-trade controls (and, as they land, TCA, model registry and audit)."""
