"""Shared machinery. Imports no domain."""
