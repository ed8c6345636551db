"""The authentication service: user accounts, password login and JWT user tokens."""
