"""The execution service (worker node): pulls staged tasks from the scheduler and runs them."""
