"""The management service: business rules for data, functions, tasks and the audit log.

All records live in the storage service; the frontend is the only caller. See ``service`` for
the RPCs and the differences from Teaclave 0.6.
"""
