"""The chaos and security suite (issue #8): extraction under server kills and injected faults, failover, fuzzed
inputs and secrets. ``python -m tests.chaos --seed 7 --duration 120`` runs the chaos rounds alone; see
docs/chaos.md."""
