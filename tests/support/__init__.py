"""Shared test helpers: running the collection's modules for real, the sandbox fixtures."""
