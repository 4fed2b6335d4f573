"""output_path on real s3fs, against moto's S3 server on loopback: the target key keeps its earlier object
while an export is uploaded, a failure aborts the multipart upload, and the object appears whole at commit
with no temporary key. s3fs and moto are test-only dependencies (the dev extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec
import moto.server as moto_server
import pytest
import s3fs

OLD = b"an earlier export\n"
ROWS = b'{"row": 1}\n' * 100_000  # 1.1 MB


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from airflow.sdk.io import store

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # Airflow's path operations other than open() use a filesystem of their own, made from the environment.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=url)
    client.create_bucket(Bucket="exports")
    # attach() hands back a store already made for s3:// (an earlier test's, without a filesystem): drop it first.
    store._STORE_CACHE.pop("s3", None)
    store.attach("s3", fs=s3fs.S3FileSystem(client_kwargs={"endpoint_url": url}))
    # The official flyte SDK (imported by its tests) registers obstore for s3:// with fsspec; Airflow's path
    # operations would then go through obstore, not s3fs. This test is about s3fs.
    earlier = fsspec.registry.get("s3")
    fsspec.register_implementation("s3", s3fs.S3FileSystem, clobber=True)
    try:
        yield client
    finally:
        if earlier is not None:
            fsspec.register_implementation("s3", earlier, clobber=True)
        store._STORE_CACHE.pop("s3", None)
        server.stop()


def keys(client: Any) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="exports").get("Contents", []))


def uploads(client: Any) -> int:
    return len(client.list_multipart_uploads(Bucket="exports").get("Uploads", []))


def body(client: Any) -> bytes:
    return bytes(client.get_object(Bucket="exports", Key="out/labels.ndjson")["Body"].read())


def test_an_export_appears_whole_at_commit_and_a_failure_aborts_its_upload(bucket):
    from airflow_remote_tasks.core.storage import (
        StagedFile,
        check_writable,
        staged_by_the_store,
        storage_path,
    )

    bucket.put_object(Bucket="exports", Key="out/labels.ndjson", Body=OLD)
    check_writable("s3://exports/out/labels.ndjson")
    assert keys(bucket) == ["out/labels.ndjson"]  # the probe is gone
    path = storage_path("s3://exports/out/labels.ndjson")
    assert staged_by_the_store(path)

    with pytest.raises(RuntimeError), StagedFile(path) as staged:
        for _ in range(60):  # 66 MB: s3fs sends a 50 MiB part on the way
            staged.write(ROWS)
        assert uploads(bucket) == 1 and body(bucket) == OLD
        raise RuntimeError("the download broke")
    assert uploads(bucket) == 0 and keys(bucket) == ["out/labels.ndjson"] and body(bucket) == OLD

    with StagedFile(path) as staged:
        for _ in range(60):
            staged.write(ROWS)
        staged.finish()  # every byte uploaded, and still the earlier object at the key
        assert body(bucket) == OLD
        staged.commit()
    assert bucket.head_object(Bucket="exports", Key="out/labels.ndjson")["ContentLength"] == 60 * len(ROWS)
    assert keys(bucket) == ["out/labels.ndjson"] and uploads(bucket) == 0
    assert len(path.fs.transaction.files) == 0  # fsspec holds no finished file for a transaction
