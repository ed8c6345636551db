"""The scheduler service: staged-task queue, executor heartbeats, task status and results."""
