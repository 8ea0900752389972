"""Figures: every plot takes arrays and imports only `core`."""
