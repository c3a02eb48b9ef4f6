"""Adapters that turn an ImageJob into images: one module per upstream API."""
