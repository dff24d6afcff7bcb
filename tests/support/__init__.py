"""Test support shared across test files (local web server, fixtures)."""
