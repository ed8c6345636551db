"""The sandboxed child: confine this process, then run the payload's ``entrypoint(argv)``.

Run by the worker as ``python -I -S -B -X utf8 -c BOOTSTRAP <this directory> <run config>``
(``BOOTSTRAP`` imports this module from its cached bytecode and calls ``main``; running this
file as a script works too, only slower) where the run config is a ``marshal``ed dict written
by the worker (same interpreter, nothing to parse but builtins), with an almost
empty environment, cwd = the run's work directory and two inherited pipe ends. ``-I -S`` keeps
site-packages and the ``teaclave`` package off ``sys.path``; the directories a payload may
import from (numpy's, through the run's ``lib`` directory) are appended from the config.

Setup order (each step before the payload's first byte runs):

1. resource limits: CPU seconds, address space, file size, open files, no core dumps;
2. new network, IPC and UTS namespaces (``unshare``; inside a new user namespace when the worker
   lacks ``CAP_SYS_ADMIN``) — no interface but a down loopback, no host SysV IPC;
3. ``PR_SET_NO_NEW_PRIVS``, then drop every capability (bounding, ambient, effective,
   permitted, inheritable) and lock the securebits;
4. Landlock: read-only below the interpreter's stdlib, the allowed packages and system
   libraries, read-write below the work directory only; no TCP, signals scoped;
5. the seccomp filter compiled by the worker (``seccomp_filter.build_bpf``);
6. the Teaclave file API (``prelude``), then ``exec`` of the payload and ``entrypoint(argv)``.

A setup failure exits with status ``SETUP_FAILED`` after an ``ERROR`` frame starting with
``"sandbox setup failed: "``.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import sys
import types

TYPE_CHECKING = False  # typing itself costs ~10 ms of start-up in the child
_HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from typing import Any
if TYPE_CHECKING or __package__:  # the worker imports this module for its constants
    from teaclave.executors.sandbox import landlock, prelude, seccomp_filter
else:  # the child: import the sibling modules from this directory, then forget it
    sys.path.insert(0, _HERE)
    try:
        import landlock
        import prelude
        import seccomp_filter
    finally:
        sys.path[:] = [entry for entry in sys.path if entry != _HERE]
        for _name in ("landlock", "prelude", "protocol", "seccomp_filter"):
            sys.modules.pop(_name, None)

#: ``python -c`` code starting the child: ``argv`` = [``-c``, this directory, run config].
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); import child; child.main(sys.argv[1:])"
SETUP_FAILED = 70
SETUP_PREFIX = "sandbox setup failed: "
PAYLOAD_MODULE = "payload"
PAYLOAD_FILE = "payload.py"

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_NO_NEW_PRIVS = 38
# NOROOT and NO_SETUID_FIXUP set and locked; KEEP_CAPS locked off.
_SECUREBITS_LOCKED = 0x01 | 0x02 | 0x04 | 0x08 | 0x20
_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def set_limits(limits: dict[str, int]) -> None:
    """Apply the run's rlimits (soft = hard, except CPU whose hard limit is one second more)."""
    cpu = limits["cpu_secs"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def enter_namespaces(user_namespace: bool) -> None:
    """New network, IPC and UTS namespaces (in a new user namespace, when asked)."""
    flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWUSER if user_namespace else 0)
    if _libc.unshare(flags) != 0:
        raise _fail("unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)")


def drop_capabilities() -> None:
    """No new privileges; empty bounding, ambient and process capability sets; lock securebits."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last_cap = int(file.read())
    for cap in range(last_cap + 1):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise _fail(f"prctl(PR_CAPBSET_DROP, {cap})")
    if _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        raise _fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    if _libc.prctl(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_SECUREBITS)")
    header = _CapHeader(version=_CAPABILITY_VERSION_3, pid=0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise _fail("capset")


def confine(config: dict[str, Any]) -> None:
    """Steps 1-5 of the module docstring."""
    set_limits(config["limits"])
    enter_namespaces(bool(config["user_namespace"]))
    drop_capabilities()
    landlock.restrict_self(config["read_only"], config["read_write"])
    seccomp_filter.install_bpf(bytes.fromhex(config["seccomp_bpf"]))


def summary_bytes(value: object) -> bytes:
    """The entrypoint's return value as UTF-8 (``None`` is the empty summary)."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        data.decode("utf-8")
        return data
    raise TypeError(f"entrypoint must return a str, not {type(value).__name__}")


def describe(error: BaseException) -> str:
    """The traceback's last line plus where in the payload it was raised (traceback on stderr)."""
    import traceback

    traceback.print_exception(type(error), error, error.__traceback__)
    if isinstance(error, SystemExit):
        return f"the payload called exit({error.code!r})"
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == PAYLOAD_FILE]
    if frames:
        last += f" ({PAYLOAD_FILE}, line {frames[-1].lineno}, in {frames[-1].name})"
    return last


def run_payload(source: bytes, argv: list[str], channel: prelude.Channel) -> None:
    """Run the payload as module ``payload``, call ``entrypoint(argv)``, report, exit."""
    try:
        code = compile(source, PAYLOAD_FILE, "exec", dont_inherit=True)
        module = types.ModuleType(PAYLOAD_MODULE)
        module.__file__ = PAYLOAD_FILE
        sys.modules[PAYLOAD_MODULE] = module
        exec(code, module.__dict__)
        entrypoint = module.__dict__.get("entrypoint")
        if not callable(entrypoint):
            raise NameError("the payload does not define entrypoint(argv)")
        summary = summary_bytes(entrypoint(list(argv)))
        channel.close_writers()
    except BaseException as error:  # the payload's failure, whatever it is, fails the run
        try:
            message = describe(error)
        except BaseException:  # e.g. MemoryError while formatting
            message = type(error).__name__
        _flush()
        channel.send_error(message)
        os._exit(1)
    _flush()
    channel.send_result(summary)
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib is not worth its import time here)
            stream.flush()
        except Exception:
            pass


def main(argv: list[str]) -> None:
    """Confine this process according to the config file ``argv[1]``, then run the payload.

    Never returns: the run ends the process (``os._exit`` or ``sys.exit``).
    """
    sys.modules.pop("child", None)  # keep the payload's module namespace clean
    with open(argv[1], "rb") as file:
        config = marshal.load(file)
    channel = prelude.Channel(config["request_fd"], config["reply_fd"])
    try:
        with open(config["payload"], "rb") as file:
            source = file.read()
        sys.path.extend(config["sys_path"])
        confine(config)
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        channel.send_error(f"{SETUP_PREFIX}{exc}")
        sys.exit(SETUP_FAILED)
    prelude.install(channel)
    run_payload(source, list(config["argv"]), channel)


if __name__ == "__main__":
    main(sys.argv)
