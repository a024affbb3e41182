"""Faults: the schedule as data (`schedule`) and the one place that injects them into a twin (`inject`)."""
