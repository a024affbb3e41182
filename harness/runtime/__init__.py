"""The lowest layer: starting and stopping processes, and waiting for readiness, each in one place."""
