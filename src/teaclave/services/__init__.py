"""The seven Teaclave services, one subpackage each.

Every service has the same three modules: ``service.py`` (the ``@teaclave_service`` class and
``start_service(config, enclave)``), ``enclave.py`` (the trusted half: registers the standard
ECALL handlers) and ``app.py`` (the untrusted launcher: ``python -m
teaclave.services.<name>.app --config runtime.config.toml``). Services reach each other only
through ``teaclave.rpc`` channels, never by importing one another.
"""
