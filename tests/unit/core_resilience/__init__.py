"""Unit tests for the core resilience primitives: clock, rate limits, retries, metrics and the sync runner."""
