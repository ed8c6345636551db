"""Real servers for the file agent tests: a threaded HTTP(S) file server and moto's S3."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from teaclave.config.runtime import FileAgentConfig
from teaclave.worker.file_agent import FileAgent

TLS_HOST = "files.example.test"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ServerState:
    root: Path
    requests: list[Recorded] = field(default_factory=list)
    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(4, timeout=5))
    stopping: threading.Event = field(default_factory=threading.Event)
    forever_bytes: int = 0
    sni: list[str | None] = field(default_factory=list)


class Handler(http.server.SimpleHTTPRequestHandler):
    """GET serves the root directory, PUT writes the body; a few special endpoints."""

    server: FileServerBase

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(args[2].state.root), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> ServerState:
        return self.server.state

    def _record(self) -> None:
        self.state.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        )

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        path = self.path.split("?", 1)[0]
        if path == "/redirect":
            self._reply(302, headers={"Location": "/hello.txt"})
        elif path == "/redirect-301":
            self._reply(301, headers={"Location": "http://127.0.0.1/hello.txt"})
        elif path == "/big-length":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 1024)
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten!!")
        elif path == "/forever":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"z" * 65536
            try:
                while not self.state.stopping.is_set():
                    self.wfile.write(chunk)
                    self.state.forever_bytes += len(chunk)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/slow":
            time.sleep(3)
            self._reply(200, b"late")
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), b"status body")
        elif path == "/s3-error":
            self._reply(403, b"<Error><Code>AccessDenied</Code></Error>")
        elif path.startswith("/barrier/"):
            self.state.barrier.wait()
            self._reply(200, f"barrier {path.rsplit('/', 1)[1]}".encode())
        elif path == "/delay-fail":
            time.sleep(0.3)
            self._reply(404, b"nope")
        else:
            super().do_GET()

    def do_PUT(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path.startswith("/put-status/"):
            self._reply(int(path.rsplit("/", 1)[1]))
            return
        if path.startswith("/barrier-put/"):
            self.state.barrier.wait()
        target = Path(self.translate_path(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        self._reply(200)


class FileServerBase(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose (caps, timeouts, cancellation)


class FileServer6(FileServerBase):
    address_family = socket.AF_INET6


@dataclass
class RunningServer:
    state: ServerState
    host: str
    port: int
    scheme: str = "http"

    def url(self, path: str, host: str | None = None) -> str:
        shown = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{shown}:{self.port}/{path.lstrip('/')}"

    @property
    def root(self) -> Path:
        return self.state.root


def _start(
    root: Path, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> tuple[RunningServer, Callable[[], None]]:
    cls = FileServer6 if ":" in host else FileServerBase
    server = cls((host, 0), Handler)
    server.state = ServerState(root)
    if tls is not None:

        def remember_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
            server.state.sni.append(name)

        tls.sni_callback = remember_sni  # type: ignore[assignment]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        server.state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)

    running = RunningServer(
        server.state, host, server.server_address[1], "https" if tls else "http"
    )
    return running, stop


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"Hello, World!\n")
    fixtures = root / "fixtures" / "functions"
    fixtures.mkdir(parents=True)
    for i in range(4):
        (fixtures / f"input{i}.bin").write_bytes(bytes([i]) * (1000 + i))
    return root


@pytest.fixture
def server(web_root: Path) -> Iterator[RunningServer]:
    running, stop = _start(web_root)
    yield running
    stop()


@pytest.fixture
def server6(web_root: Path) -> Iterator[RunningServer]:
    try:
        running, stop = _start(web_root, host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    yield running
    stop()


def _cert_pair(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "file agent test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_HOST)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = tmp / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem = tmp / "server.pem"
    cert_pem.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem)
    return ca_pem, context


@dataclass
class TlsServer:
    server: RunningServer
    ca_pem: Path


@pytest.fixture
def tls_server(web_root: Path, tmp_path: Path) -> Iterator[TlsServer]:
    pki = tmp_path / "pki"
    pki.mkdir()
    ca_pem, context = _cert_pair(pki)
    running, stop = _start(web_root, tls=context)
    yield TlsServer(running, ca_pem)
    stop()


class FakeDns:
    """Extra names for ``socket.getaddrinfo`` (everything else resolves for real)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in self.names:
            self.lookups.append(host)
            out = []
            for addr in self.names[host]:
                if ipaddress.ip_address(addr).version == 6:
                    out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, port, 0, 0)))
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port)))
            return out
        return self._real(host, port, *args, **kwargs)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


MakeAgent = Callable[..., FileAgent]


@pytest.fixture
def fusion_base(tmp_path: Path) -> Path:
    return tmp_path / "fusion"


@pytest.fixture
def make_agent(fusion_base: Path) -> MakeAgent:
    """``make_agent(**FileAgentConfig fields)``; short timeouts by default."""

    def make(**overrides: Any) -> FileAgent:
        fields: dict[str, Any] = {"timeout_secs": 5.0}
        fields.update(overrides)
        for key in ("allowed_hosts", "file_roots"):
            if key in fields:
                fields[key] = tuple(str(v) for v in fields[key])
        return FileAgent(FileAgentConfig(**fields), fusion_base)

    return make


@pytest.fixture
def loopback_agent(make_agent: MakeAgent) -> FileAgent:
    """An agent allowed to reach the loopback test servers."""
    return make_agent(allowed_hosts=["127.0.0.0/8", "::1/128"])


@dataclass
class MotoS3:
    endpoint: str
    host: str
    port: int
    client: Any

    def make_bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="module")
def moto_server() -> Iterator[tuple[str, int]]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the dev extra
        pytest.skip(f"moto[server] is not installed: {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
    except Exception as exc:  # pragma: no cover - environment dependent
        pytest.skip(f"moto server cannot start: {exc!r}")
    yield host, port
    server.stop()


@pytest.fixture
def s3(moto_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoS3:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    host, port = moto_server
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return MotoS3(endpoint, host, port, client)


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (relative), for all-or-nothing assertions."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def list_tree() -> Callable[[Path], list[str]]:
    return tree


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory for download destinations."""
    path = tmp_path / "out"
    path.mkdir()
    return path
