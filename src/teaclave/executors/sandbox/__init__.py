"""The native Python executor's sandbox: the child process and the layers it applies.

``child`` is the sandboxed process's entry point; ``landlock`` (ctypes syscalls) and
``seccomp_filter`` (policy compiled with pyseccomp, installed with ctypes) are two of its
layers; ``prelude`` is the payload's Teaclave file API and ``protocol`` the frames it exchanges
with the worker. Every module here but this one is imported by the child from this directory
with ``-I -S`` (no site-packages), so they use the standard library only.
"""
