"""The sandbox's seccomp filter: built once with pyseccomp, installed in the child with ctypes.

``build_bpf()`` (the worker, at executor start) compiles the policy with libseccomp through
``pyseccomp`` and returns the classic-BPF program; ``install_bpf()`` (the sandboxed child,
stdlib only) loads it with ``prctl(PR_SET_SECCOMP)``. Compiling once keeps libseccomp, its
``ldconfig`` lookup and the rule compiler out of every run.

The policy allows by default and refuses, with ``EPERM``, what a payload could use to leave
the sandbox or hurt the host (the child still runs as uid 0 with no capabilities, so anything
that only checks file ownership must be refused here):

* network: ``socket`` except ``AF_UNIX``; connect, bind, listen, accept, send*, socketpair;
* processes: execve/execveat, fork/vfork, ``clone`` without ``CLONE_THREAD`` (threads still
  work), ``clone3`` (``ENOSYS`` so glibc falls back to ``clone``), ptrace, process_vm_*, kcmp,
  pidfd_*, every signal-sending call (kill, tkill, tgkill, rt_*sigqueueinfo), setsid/setpgid;
* privileges and limits: the setuid family, capset, setrlimit and prlimit64 with a new limit,
  scheduling priority, namespaces (unshare, setns), mounts, bpf, perf, keyrings, io_uring,
  modules, kexec, reboot, swap, clocks, host and domain names, syslog, iopl/ioperm;
* file metadata, which Landlock does not cover: chmod/chown/utimes/xattr families, mknod,
  path ``truncate``, open_by_handle_at, fanotify/inotify, and every ``ioctl`` outside the
  terminal range 0x5400..0x54ff;
* any syscall number above the highest this policy knows (``ENOSYS``, as on an older kernel).
"""

from __future__ import annotations

import ctypes
import errno
import os

AF_UNIX = 1
CLONE_THREAD = 0x00010000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

#: Syscalls refused with EPERM whatever their arguments.
DENIED = (
    # network (socket itself is conditional)
    "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg", "sendmmsg",
    "socketpair",
    # processes and other processes
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
    "process_madvise", "process_mrelease", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "setsid", "setpgid",
    # privileges, limits, scheduling
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capset", "setrlimit", "setpriority", "sched_setscheduler",
    "sched_setparam", "sched_setattr", "ioprio_set",
    # namespaces, mounts, kernel facilities
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "syslog", "vhangup", "uselib", "personality", "iopl", "ioperm", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "lookup_dcookie", "nfsservctl",
    # file metadata (Landlock does not mediate it)
    "mknod", "mknodat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
    "lchown", "fchownat", "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "removexattrat",
    "truncate", "name_to_handle_at", "open_by_handle_at", "fanotify_init", "fanotify_mark",
    "inotify_add_watch",
)  # fmt: skip

#: Syscalls with numbers from the unified table (>= 424) that libseccomp 2.5 may not know.
_UNIFIED_NUMBERS = {
    "pidfd_send_signal": 424,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_open": 434,
    "clone3": 435,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "process_mrelease": 448,
    "fchmodat2": 452,
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
}
#: Syscall numbers from here on (future syscalls) fail with ENOSYS.
FIRST_UNKNOWN_SYSCALL = 468
_LAST_GUARDED_SYSCALL = 599
_IOCTL_TERMINAL_FIRST = 0x5400
_IOCTL_TERMINAL_LAST = 0x54FF


def _syscall_number(seccomp: object, name: str) -> int | None:
    """The native number of ``name`` (libseccomp's table, then the unified table)."""
    resolve = seccomp.resolve_syscall  # type: ignore[attr-defined]
    number = int(resolve(seccomp.Arch.NATIVE, name))  # type: ignore[attr-defined]
    if number >= 0:
        return number
    if name in _UNIFIED_NUMBERS and not os.uname().machine.startswith(("alpha", "mips")):
        return _UNIFIED_NUMBERS[name]  # the unified table, shifted only on alpha and mips
    # Negative pseudo-numbers name syscalls this architecture lacks; libseccomp ignores them.
    return number if number < -1 else None


def build_bpf() -> bytes:
    """Compile the sandbox policy for this machine's architecture; return the BPF program.

    Raises ``RuntimeError`` naming the problem when libseccomp (or pyseccomp) is missing.
    """
    import tempfile

    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError, OSError) as exc:
        raise RuntimeError(f"libseccomp is unavailable (pyseccomp: {exc})") from exc
    policy = seccomp.SyscallFilter(seccomp.ALLOW)
    eperm = seccomp.ERRNO(errno.EPERM)
    enosys = seccomp.ERRNO(errno.ENOSYS)
    denied: set[int] = set()
    for name in DENIED:
        number = _syscall_number(seccomp, name)
        if number is not None and number not in denied:
            denied.add(number)
            policy.add_rule(eperm, number)

    def conditional(action: int, name: str, *args: object) -> None:
        number = _syscall_number(seccomp, name)
        if number is not None:
            policy.add_rule(action, number, *args)

    conditional(eperm, "socket", seccomp.Arg(0, seccomp.NE, AF_UNIX))
    conditional(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    conditional(enosys, "clone3")
    conditional(eperm, "prlimit64", seccomp.Arg(2, seccomp.NE, 0))
    conditional(eperm, "ioctl", seccomp.Arg(1, seccomp.LT, _IOCTL_TERMINAL_FIRST))
    conditional(eperm, "ioctl", seccomp.Arg(1, seccomp.GT, _IOCTL_TERMINAL_LAST))
    for number in range(FIRST_UNKNOWN_SYSCALL, _LAST_GUARDED_SYSCALL + 1):
        policy.add_rule(enosys, number)
    with tempfile.TemporaryFile() as out:
        policy.export_bpf(out)
        out.seek(0)
        program = out.read()
    if not program or len(program) % 8:
        raise RuntimeError(f"libseccomp exported a malformed BPF program ({len(program)} bytes)")
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install_bpf(program: bytes) -> None:
    """Load ``program`` (from ``build_bpf``) as the calling thread's seccomp filter.

    Sets ``PR_SET_NO_NEW_PRIVS`` first (needed without ``CAP_SYS_ADMIN``); raises ``OSError``.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len=len(program) // 8, filter=ctypes.addressof(buffer))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {os.strerror(err)}")
