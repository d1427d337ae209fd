"""Shared machinery of the keras_nas_plus tuners."""
