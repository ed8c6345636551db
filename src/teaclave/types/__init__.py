"""Pure domain model of the platform: ids, roles, users, functions, files, tasks, errors.

Nothing here performs I/O. Records serialize to the JSON shapes Teaclave 0.6 stores (serde
form, see ``spec/services.md`` §2.7) so that every service reads and writes them one way.
"""
