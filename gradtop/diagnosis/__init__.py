"""Diagnosis: pure functions from a run's History to Findings with fixes (no torch, no UI)."""
