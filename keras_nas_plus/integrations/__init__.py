"""Integrations with other AutoML libraries (AutoKeras)."""
