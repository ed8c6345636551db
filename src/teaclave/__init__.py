"""teaclave-py: a Python implementation of the Apache Teaclave 0.6 secure computing platform.

The package is layered (lowest first): ``proto`` (wire definitions), ``types`` (pure domain
model), ``config``, ``binder`` (app/enclave boundary), ``rpc`` (service framework and TLS
channels), ``storage`` (key-value backends), ``services.<name>`` (the seven services),
``worker``/``executors``/``functions`` (task execution), ``sdk`` and ``cli``.
"""

__version__ = "0.1.0"
