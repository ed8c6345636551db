"""The frontend service: the single user entry point (authenticate, authorize, audit, forward)."""
