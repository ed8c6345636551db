"""Platform benchmarks: ``make bench`` (or ``python benchmarks/run.py``).

Measures, in one run on this machine:
- a bare grpcio unary round trip over TLS on loopback (the floor every RPC hop pays),
- the echo task end to end (create → invoke → result, through frontend, management,
  storage, scheduler and a worker), p50/p95,
- task throughput with 1 and 2 execution workers,
and prints them as a table with the ratio of each latency to the bare round trip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from teaclave.rpc.tls import PlatformCa, PlatformCaVerifier
from teaclave.sdk import AuthenticationService, FrontendService, FunctionArgument
from teaclave.services.embedded import EmbeddedPlatform, free_port, free_port_config

ADMIN_PASSWORD = "bench-admin-password"


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bare_grpc_round_trip(state_dir: Path, calls: int) -> list[float]:
    """Latencies (ms) of a unary echo over TLS with grpcio, nothing else."""
    ca = PlatformCa.load_or_create(state_dir)
    identity = ca.issue("bench_echo")
    verifier = PlatformCaVerifier(ca.cert_pem)

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = free_port()
    server.add_secure_port(f"127.0.0.1:{port}", verifier.server_credentials(identity, False))
    server.start()
    channel = grpc.secure_channel(
        f"127.0.0.1:{port}",
        verifier.channel_credentials(None),
        options=verifier.channel_options("bench_echo"),
    )
    stub = channel.unary_unary("/bench.Echo/Echo")
    payload = b"x" * 64
    for _ in range(200):
        stub(payload)
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        stub(payload)
        samples.append((time.perf_counter() - t0) * 1000)
    channel.close()
    server.stop(None)
    return samples


def _clients(platform: EmbeddedPlatform) -> tuple[FrontendService, str]:
    auth = AuthenticationService(
        platform.authentication_address,
        platform.attestation_root_path,
        platform.enclave_info_path,
    ).connect()
    token = auth.user_login("admin", ADMIN_PASSWORD)
    auth.close()
    frontend = FrontendService(
        platform.frontend_address, platform.attestation_root_path, platform.enclave_info_path
    ).connect()
    frontend.metadata = {"id": "admin", "token": token}
    function_id = frontend.register_function(
        "builtin-echo", "echo", "builtin", arguments=[FunctionArgument("message")]
    )
    return frontend, function_id


def run_echo(frontend: FrontendService, function_id: str) -> float:
    """One echo task end to end; returns milliseconds."""
    t0 = time.perf_counter()
    task_id = frontend.create_task(function_id, {"message": "bench"}, "builtin")
    frontend.invoke_task(task_id)
    result = frontend.get_task_result(task_id, timeout=30)
    elapsed = (time.perf_counter() - t0) * 1000
    assert result == b"bench", result
    return elapsed


def echo_latency(state_dir: Path, tasks: int) -> list[float]:
    """End-to-end echo latencies (ms) with one worker."""
    config = free_port_config(state_dir, authentication={"admin_password": ADMIN_PASSWORD})
    with EmbeddedPlatform(config, workers=1) as platform:
        frontend, function_id = _clients(platform)
        for _ in range(10):
            run_echo(frontend, function_id)
        samples = [run_echo(frontend, function_id) for _ in range(tasks)]
        frontend.close()
    return samples


def throughput(state_dir: Path, workers: int, tasks: int, clients: int) -> float:
    """Echo tasks per second with ``workers`` workers and ``clients`` concurrent submitters."""
    config = free_port_config(state_dir, authentication={"admin_password": ADMIN_PASSWORD})
    with EmbeddedPlatform(config, workers=workers) as platform:
        frontend, function_id = _clients(platform)
        for _ in range(5):
            run_echo(frontend, function_id)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(lambda _: run_echo(frontend, function_id), range(tasks)))
        elapsed = time.perf_counter() - t0
        frontend.close()
    return tasks / elapsed


def main() -> None:
    """Run every benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200, help="echo tasks per measurement")
    parser.add_argument("--calls", type=int, default=2000, help="bare gRPC calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teaclave-bench-") as tmp:
        base = Path(tmp)
        bare = bare_grpc_round_trip(base / "bare", args.calls)
        echo = echo_latency(base / "echo", args.tasks)
        tput1 = throughput(base / "t1", 1, args.tasks, 4)
        tput2 = throughput(base / "t2", 2, args.tasks, 4)
    bare_p50 = statistics.median(bare)
    rows = [
        (
            "bare grpcio TLS round trip",
            f"{bare_p50:.3f} ms",
            f"{percentile(bare, 0.95):.3f} ms",
            "1.0x",
        ),
        (
            "echo task end to end",
            f"{statistics.median(echo):.2f} ms",
            f"{percentile(echo, 0.95):.2f} ms",
            f"{statistics.median(echo) / bare_p50:.1f}x",
        ),
    ]
    print(f"{'measurement':<32} {'p50':>12} {'p95':>12} {'vs bare':>9}")
    for name, p50, p95, ratio in rows:
        print(f"{name:<32} {p50:>12} {p95:>12} {ratio:>9}")
    print(f"{'echo tasks/s, 1 worker':<32} {tput1:>12.1f}")
    print(f"{'echo tasks/s, 2 workers':<32} {tput2:>12.1f}")
    goal = "met" if statistics.median(echo) <= 30 else "NOT met"
    print(f"goal echo p50 <= 30 ms: {goal}")


if __name__ == "__main__":
    main()
