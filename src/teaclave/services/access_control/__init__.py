"""The access-control service: which role may call which frontend API."""
