"""Helpers shared by the test modules (one home for each, instead of tests importing each other)."""
