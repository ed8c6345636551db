"""s3:// transfers against moto running as a real server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.worker.file_agent import EgressDenied, FileAgentError


@pytest.fixture
def s3_agent(make_agent, s3):
    return make_agent(s3_endpoint_url=s3.endpoint, allowed_hosts=["127.0.0.0/8"])


def test_s3_get(s3, s3_agent, out: Path) -> None:
    bucket = s3.make_bucket("inputs-get")
    s3.client.put_object(Bucket=bucket, Key="task/a b/input.enc", Body=b"\x01s3 input")
    s3_agent.download([(f"s3://{bucket}/task/a%20b/input.enc", out / "in")])
    assert (out / "in").read_bytes() == b"\x01s3 input"


def test_s3_put(s3, s3_agent, tmp_path: Path) -> None:
    bucket = s3.make_bucket("outputs-put")
    src = tmp_path / "result"
    src.write_bytes(b"\x02s3 output" * 1000)
    s3_agent.upload([(src, f"s3://{bucket}/results/out.enc")])
    body = s3.client.get_object(Bucket=bucket, Key="results/out.enc")["Body"].read()
    assert body == src.read_bytes()


def test_s3_four_objects_concurrently(s3, s3_agent, tmp_path: Path, out: Path) -> None:
    bucket = s3.make_bucket("many")
    uploads = []
    for i in range(4):
        src = tmp_path / f"o{i}"
        src.write_bytes(bytes([i]) * (100 + i))
        uploads.append((src, f"s3://{bucket}/o{i}"))
    s3_agent.upload(uploads)
    s3_agent.download([(f"s3://{bucket}/o{i}", out / f"o{i}") for i in range(4)])
    for i in range(4):
        assert (out / f"o{i}").read_bytes() == bytes([i]) * (100 + i)


def test_s3_missing_key(s3, s3_agent, out: Path) -> None:
    bucket = s3.make_bucket("missing-key")
    with pytest.raises(FileAgentError, match=r"HTTP 404 .*\(NoSuchKey\)") as info:
        s3_agent.download([(f"s3://{bucket}/nope", out / "x")])
    assert info.value.url == f"s3://{bucket}/nope"
    assert "Signature" not in str(info.value) and "testing" not in str(info.value)
    assert list(out.iterdir()) == []


def test_s3_missing_bucket(s3, s3_agent, tmp_path: Path, out: Path) -> None:
    with pytest.raises(FileAgentError, match=r"HTTP 404 .*\(NoSuchBucket\)"):
        s3_agent.download([("s3://no-such-bucket/key", out / "x")])
    src = tmp_path / "s"
    src.write_bytes(b"s")
    with pytest.raises(FileAgentError, match=r"HTTP 404 .*\(NoSuchBucket\)"):
        s3_agent.upload([(src, "s3://no-such-bucket/key")])


def test_s3_endpoint_is_subject_to_egress_control(s3, make_agent, out: Path) -> None:
    bucket = s3.make_bucket("egress")
    s3.client.put_object(Bucket=bucket, Key="k", Body=b"v")
    agent = make_agent(s3_endpoint_url=s3.endpoint)
    with pytest.raises(EgressDenied, match="loopback"):
        agent.download([(f"s3://{bucket}/k", out / "x")])
    assert list(out.iterdir()) == []


def test_s3_object_over_the_cap(s3, make_agent, out: Path) -> None:
    bucket = s3.make_bucket("capped")
    s3.client.put_object(Bucket=bucket, Key="big", Body=b"b" * 2048)
    agent = make_agent(
        s3_endpoint_url=s3.endpoint, allowed_hosts=["127.0.0.1"], max_file_bytes=1024
    )
    with pytest.raises(FileAgentError, match="Content-Length 2048 exceeds"):
        agent.download([(f"s3://{bucket}/big", out / "x")])


@pytest.mark.parametrize(
    "url", ["s3://bucket", "s3://bucket/", "s3:///key", "s3://u:p@bucket/k", "s3://b:9/k"]
)
def test_malformed_s3_urls(s3_agent, out: Path, url: str) -> None:
    with pytest.raises(FileAgentError):
        s3_agent.download([(url, out / "x")])
