"""Loopback servers that speak each platform's real protocol, for demos, tests and offline DAG testing."""
