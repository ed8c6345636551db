"""The storage service end to end: Teaclave's storage tests (spec §10.1, §10.3) and ours."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.protobuf import empty_pb2
from storage_harness import RunningStorage, storage_config

from teaclave.binder import TeeServiceError
from teaclave.config import INBOUND
from teaclave.config.build import FRONTEND, MANAGEMENT, SCHEDULER, STORAGE
from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.context import WAIT_METADATA
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.server import serve
from teaclave.rpc.tls import PlatformCa, PlatformCaVerifier
from teaclave.services.storage.service import DATABASE_FILE, StorageService
from teaclave.storage import MemoryStore
from teaclave.types.errors import StatusCode

pytestmark = pytest.mark.timeout(60)


def status_of(call: Callable[[], object]) -> RemoteError:
    with pytest.raises(RemoteError) as err:
        call()
    return err.value


# ---------------------------------------------------------------------- Teaclave's tests
def test_get_success(storage: RunningStorage):
    client = storage.client()
    client.put(b"test_get_key", b"test_get_value")
    assert client.get(b"test_get_key") == b"test_get_value"


def test_get_fail(storage: RunningStorage):
    raw = storage.raw()
    err = status_of(
        lambda: raw.call("Get", pb.GetRequest(key=b"test_key_not_exist"), pb.GetResponse)
    )
    assert err.code is StatusCode.NOT_FOUND
    assert err.message == "key not found: test_key_not_exist"
    assert storage.client().get(b"test_key_not_exist") is None


def test_put_success(storage: RunningStorage):
    client = storage.client()
    client.put(b"test_put_key", b"test_put_value")
    assert client.get(b"test_put_key") == b"test_put_value"
    client.put(b"test_put_key", b"")  # empty values are allowed
    assert client.get(b"test_put_key") == b""


def test_delete_success(storage: RunningStorage):
    client = storage.client()
    client.put(b"test_delete_key", b"test_delete_value")
    client.delete(b"test_delete_key")
    assert client.get(b"test_delete_key") is None
    client.delete(b"test_delete_key")  # deleting a missing key succeeds


def test_enqueue_dequeue_success(storage: RunningStorage):
    client = storage.client()
    raw = storage.raw()
    err = status_of(
        lambda: raw.call("Dequeue", pb.DequeueRequest(key=b"test_dequeue_key"), pb.DequeueResponse)
    )
    assert err.code is StatusCode.NOT_FOUND
    assert err.message == "queue is empty: test_dequeue_key"
    client.enqueue(b"test_dequeue_key", b"1")
    client.enqueue(b"test_dequeue_key", b"2")
    assert client.dequeue(b"test_dequeue_key") == b"1"
    assert client.dequeue(b"test_dequeue_key") == b"2"


def test_dequeue_fail(storage: RunningStorage):
    client = storage.client()
    client.enqueue(b"test_dequeue_fail_key", b"only")
    assert client.dequeue(b"test_dequeue_fail_key") == b"only"
    assert client.dequeue(b"test_dequeue_fail_key") is None


def test_get_keys_by_prefix(storage: RunningStorage):
    client = storage.client()
    for key in [
        b"function-5",
        b"task-444",
        b"function-333",
        b"function-1",
        b"function-22",
        b"function",
        b"functionx-1",
        b"function.1",
    ]:
        client.put(key, b"v")
    assert client.keys_by_prefix("function") == [
        b"function-1",
        b"function-22",
        b"function-333",
        b"function-5",
    ]
    assert client.keys_by_prefix("task") == [b"task-444"]
    assert client.keys_by_prefix("input") == []  # never a non-matching key (Teaclave quirk)


# ---------------------------------------------------------------------- argument checks
@pytest.mark.parametrize(
    ("rpc", "request_", "response", "field"),
    [
        ("Get", pb.GetRequest(key=b""), pb.GetResponse, "key"),
        ("Put", pb.PutRequest(key=b"", value=b"v"), empty_pb2.Empty, "key"),
        ("Delete", pb.DeleteRequest(key=b""), empty_pb2.Empty, "key"),
        ("Enqueue", pb.EnqueueRequest(key=b"", value=b"v"), empty_pb2.Empty, "key"),
        ("Dequeue", pb.DequeueRequest(key=b""), pb.DequeueResponse, "key"),
        (
            "GetKeysByPrefix",
            pb.GetKeysByPrefixRequest(prefix=b""),
            pb.GetKeysByPrefixResponse,
            "prefix",
        ),
    ],
)
def test_empty_key_is_invalid_argument_naming_the_field(
    storage: RunningStorage, rpc: str, request_: object, response: type, field: str
):
    raw = storage.raw()
    err = status_of(lambda: raw.call(rpc, request_, response))  # type: ignore[arg-type]
    assert err.code is StatusCode.INVALID_ARGUMENT
    assert err.message == f"{field}: empty"


# ---------------------------------------------------------------------- long poll
def test_dequeue_long_poll_is_woken_by_an_enqueue(storage: RunningStorage):
    consumer = storage.client()
    producer = storage.client(SCHEDULER)
    timer = threading.Timer(0.3, producer.enqueue, args=(b"staged-task", b"late"))
    start = time.monotonic()
    timer.start()
    try:
        assert consumer.dequeue(b"staged-task", wait_secs=5.0) == b"late"
    finally:
        timer.join()
    assert 0.25 <= time.monotonic() - start < 3.0


def test_dequeue_long_poll_times_out_and_no_wait_returns_at_once(storage: RunningStorage):
    client = storage.client()
    start = time.monotonic()
    assert client.dequeue(b"q", wait_secs=0.5) is None
    assert 0.45 <= time.monotonic() - start < 2.0
    start = time.monotonic()
    assert client.dequeue(b"q") is None
    assert time.monotonic() - start < 0.4


def test_wait_metadata_on_a_raw_call(storage: RunningStorage):
    raw = storage.raw()
    start = time.monotonic()
    err = status_of(
        lambda: raw.call(
            "Dequeue",
            pb.DequeueRequest(key=b"q"),
            pb.DequeueResponse,
            metadata={WAIT_METADATA: "400"},
        )
    )
    assert err.code is StatusCode.NOT_FOUND
    assert 0.35 <= time.monotonic() - start < 2.0


def test_finalize_ends_a_pending_long_poll_quickly(launch: Callable[..., RunningStorage]):
    storage = launch()
    client = storage.client()
    result: list[object] = []

    def poll() -> None:
        try:
            result.append(client.dequeue(b"q", wait_secs=25.0))
        except RemoteError as exc:
            result.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    start = time.monotonic()
    storage.stop()
    poller.join(10)
    assert not poller.is_alive()
    assert time.monotonic() - start < 6.0
    assert len(result) == 1 and not isinstance(result[0], bytes)


# ---------------------------------------------------------------------- peers
def test_frontend_identity_is_refused(storage: RunningStorage):
    raw = storage.raw(FRONTEND)
    err = status_of(lambda: raw.call("Get", pb.GetRequest(key=b"k"), pb.GetResponse))
    assert err.code is StatusCode.PERMISSION_DENIED
    assert FRONTEND in err.message


@pytest.mark.parametrize("name", [MANAGEMENT, SCHEDULER])
def test_management_and_scheduler_are_accepted(storage: RunningStorage, name: str):
    client = storage.client(name)
    client.put(f"from-{name}".encode(), b"x")
    assert client.get(f"from-{name}".encode()) == b"x"


# ---------------------------------------------------------------------- lifecycle
def test_state_survives_a_restart_on_the_same_state_dir(
    launch: Callable[..., RunningStorage], tmp_path: Path
):
    config = storage_config(tmp_path / "persist")
    first = launch(config)
    client = first.client()
    client.put(b"function-1", b"registered")
    client.put_json(b"task-1", {"status": "Created"})
    client.enqueue(b"staged-task", b"a")
    client.enqueue(b"staged-task", b"b")
    assert client.dequeue(b"staged-task") == b"a"
    first.stop()
    assert (tmp_path / "persist" / DATABASE_FILE).exists()
    second = launch(config)
    client = second.client()
    assert client.get(b"function-1") == b"registered"
    assert client.get_json(b"task-1") == {"status": "Created"}
    assert client.dequeue(b"staged-task") == b"b"
    assert client.dequeue(b"staged-task") is None


def test_child_process_enclave(launch: Callable[..., RunningStorage], tmp_path: Path):
    config = storage_config(tmp_path / "child")
    service = launch(config, mode="child-process")
    client = service.client()
    client.put(b"function-9", b"from child")
    assert client.keys_by_prefix("function") == [b"function-9"]
    service.stop()
    assert service.outcome and not isinstance(service.outcome[0], BaseException)
    # Data written through the child enclave is on disk for the next start.
    again = launch(config)
    assert again.client().get(b"function-9") == b"from child"


def test_start_fails_when_the_port_is_taken(launch: Callable[..., RunningStorage], tmp_path: Path):
    running = launch()
    clash = storage_config(
        tmp_path / "other", port=running.config.internal_endpoints["storage"].port
    )
    second = launch(clash)
    second.thread.join(10)
    assert len(second.outcome) == 1
    error = second.outcome[0]
    assert isinstance(error, TeeServiceError)
    assert error.kind == "ServiceError"
    assert "cannot listen" in error.message
    # The first service is unaffected.
    client = running.client()
    client.put(b"k", b"v")
    assert client.get(b"k") == b"v"


# ---------------------------------------------------------------------- long polls end early
class RecordingStore(MemoryStore):
    """A MemoryStore that records when blocking dequeues return and what they raised."""

    def __init__(self) -> None:
        super().__init__()
        self.returned = threading.Event()
        self.errors: list[BaseException] = []
        self.closed = False
        self.wanted: Callable[[], bool] | None = None

    def dequeue(
        self,
        queue: bytes,
        wait_secs: float = 0.0,
        still_wanted: Callable[[], bool] | None = None,
    ) -> bytes | None:
        if wait_secs > 0:
            self.wanted = still_wanted
        try:
            return super().dequeue(queue, wait_secs, still_wanted)
        finally:
            if wait_secs > 0:
                self.returned.set()

    def _dequeue(self, queue: bytes) -> bytes | None:
        if self.closed:
            error = RuntimeError("store used after close")
            self.errors.append(error)
            raise error
        return super()._dequeue(queue)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[tuple[StorageService, RecordingStore, ServiceClient]]:
    """The service class served directly over a RecordingStore."""
    ca = PlatformCa.load_or_create(tmp_path)
    verifier = PlatformCaVerifier(ca.cert_pem)
    store = RecordingStore()
    service = StorageService(store)
    server, port = serve(
        service, "127.0.0.1:0", ca.issue(STORAGE), verifier, inbound=INBOUND["storage"]
    )
    channel = connect(f"127.0.0.1:{port}", STORAGE, verifier, ca.issue(MANAGEMENT))
    client = ServiceClient(channel, TeaclaveStorage)
    yield service, store, client
    client.close()
    server.stop(None)


def test_long_poll_ends_soon_after_the_client_gives_up(direct):
    _, store, client = direct
    err = status_of(
        lambda: client.call(
            "Dequeue",
            pb.DequeueRequest(key=b"q"),
            pb.DequeueResponse,
            metadata={WAIT_METADATA: "25000"},
            timeout=0.3,
        )
    )
    assert err.code is StatusCode.DEADLINE_EXCEEDED
    # The server-side wait notices the departed client instead of running for 25 s.
    assert store.returned.wait(2.0)


def test_an_item_arriving_after_the_client_gave_up_stays_queued(direct):
    _, store, client = direct
    # The client gives up in the middle of one of the server's wait slices...
    err = status_of(
        lambda: client.call(
            "Dequeue",
            pb.DequeueRequest(key=b"q"),
            pb.DequeueResponse,
            metadata={WAIT_METADATA: "25000"},
            timeout=0.45,
        )
    )
    assert err.code is StatusCode.DEADLINE_EXCEEDED
    # Once the server sees the call as gone (its deadline may trail the client's a little)...
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline and (store.wanted is None or store.wanted()):
        time.sleep(0.005)
    # ...an item arrives while that slice still waits: the server must not take it.
    store.enqueue(b"q", b"precious")
    time.sleep(0.5)  # longer than a slice: the server-side call has ended by now
    assert store.dequeue(b"q") == b"precious"


def test_close_ends_pending_long_polls_before_closing_the_store(direct):
    service, store, client = direct
    result: list[object] = []

    def poll() -> None:
        try:
            result.append(
                client.call(
                    "Dequeue",
                    pb.DequeueRequest(key=b"q"),
                    pb.DequeueResponse,
                    metadata={WAIT_METADATA: "25000"},
                )
            )
        except RemoteError as exc:
            result.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    start = time.monotonic()
    service.close()
    assert time.monotonic() - start < 2.0
    assert store.closed
    poller.join(5)
    assert not poller.is_alive()
    assert len(result) == 1 and isinstance(result[0], RemoteError)
    assert result[0].code is StatusCode.NOT_FOUND
    assert store.errors == []
