"""The ``teaclave`` command."""
