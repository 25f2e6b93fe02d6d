"""Asynchronous video generation: tasks created upstream at once, polled in the background
by one instance at a time (a lease), and billed exactly once when they end."""
