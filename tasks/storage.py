"""One storage layer over fsspec URLs (`file://` by default, `s3://bucket/prefix` when scaled).

Writes are atomic: local files go to a temporary name in the same folder and are renamed into place; remote
objects are written with a single PUT. A reader therefore never sees a half-written artifact.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from urllib.request import url2pathname

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from screenalytics.tasks.errors import StorageError

_EP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20
# S3 calls fail in about a minute, not after botocore's and s3fs's retries have waited for many (an endpoint that
# accepts connections but never answers used to hang a run for ~7 minutes)
S3_CLIENT = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}}
S3_RETRIES = 2  # s3fs's own retries around each call (its default is 5, with back-off)
S3_CHECK = {"connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 1, "mode": "standard"}}


def normalize_root(root: str | os.PathLike[str]) -> str:
    """Turn a path or URL into a URL without a trailing slash (`./data` -> `file:///abs/data`)."""
    text = str(root)
    if "://" not in text:
        return Path(text).expanduser().resolve().as_uri()
    return text.rstrip("/")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def validate_ep_id(ep_id: str) -> str:
    """Reject ids that could escape the episode folder (`..`, path separators) or break URLs."""
    if not _EP_ID.match(ep_id) or ".." in ep_id:
        raise ValueError(
            f"Invalid episode id {ep_id!r}: use letters, digits, '.', '_' or '-' (no '/', no '..'), "
            "e.g. --ep-id s01e01."
        )
    return ep_id


def fs_for(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path behind a URL. A `file://` URL is percent-decoded (`Path.as_uri` encodes spaces,
    `%`, `#` and non-ASCII characters; fsspec would take the escapes literally)."""
    if url.startswith("file://"):
        return fsspec.filesystem("file"), url2pathname(urlsplit(url).path)
    if url.startswith(("s3://", "s3a://")):
        fs, path = fsspec.core.url_to_fs(url, config_kwargs=S3_CLIENT)
        fs.retries = S3_RETRIES
        check_bucket(path.split("/")[0])
        return fs, path
    return fsspec.core.url_to_fs(url)


def s3_endpoint() -> str:
    """The S3 endpoint requests go to, for messages (never the credentials)."""
    return (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            or "the default AWS endpoint (set AWS_ENDPOINT_URL for another)")


@lru_cache(maxsize=64)
def check_bucket(bucket: str) -> None:
    """Fail within seconds, naming the endpoint and the fix, when a bucket cannot be reached or used (checked once
    per process and bucket)."""
    fs = fsspec.filesystem("s3", config_kwargs=S3_CHECK, skip_instance_cache=True)
    fs.retries = 1
    where = f"s3://{bucket} at {s3_endpoint()}"
    try:
        fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError:
        raise StorageError(f"{where}: no such bucket. Create it, or fix the bucket name in --root.") from None
    except PermissionError:
        raise StorageError(f"{where}: access denied. Check the credentials (AWS_ACCESS_KEY_ID, "
                           "AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket's policy.") from None
    except Exception as exc:  # noqa: BLE001 - any other failure here means the endpoint is not usable
        reason = str(exc).split(" on endpoint URL")[0].split(": \"")[0]
        raise StorageError(f"{where}: the endpoint did not answer ({reason}). Check AWS_ENDPOINT_URL and the "
                           "network, or use a local --root.") from None


def exists(url: str) -> bool:
    fs, path = fs_for(url)
    return fs.exists(path)


def remove(url: str) -> bool:
    """Delete the file at `url` if it is there; True when one was deleted."""
    fs, path = fs_for(url)
    if not fs.exists(path):
        return False
    fs.rm(path)
    return True


def _raise_if_full(path: str, exc: OSError) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise StorageError(f"{path}: no space left on the disk that holds it ({exc.strerror}). Free some "
                           "space (or use another --root) and run again: the stages already finished are "
                           "kept and reused.") from None


def write_bytes(url: str, data: bytes | memoryview) -> None:
    """Write `data` to `url` atomically."""
    fs, path = fs_for(url)
    if isinstance(fs, fsspec.implementations.local.LocalFileSystem):
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            _raise_if_full(path, exc)
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        fs.pipe_file(path, bytes(data))


def read_bytes(url: str) -> bytes:
    fs, path = fs_for(url)
    return fs.cat_file(path)


def write_parquet(df: pd.DataFrame, url: str) -> str:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    data = buf.getbuffer()  # a view: no second copy of the file in memory
    write_bytes(url, data)
    return hashlib.sha256(data).hexdigest()


def read_parquet(url: str, columns: list[str] | None = None, filters: list[tuple] | None = None) -> pd.DataFrame:
    """A Parquet file as a table (only `columns`, only the rows that pass pyarrow `filters` such as
    `[("det_id", "in", ids)]`), streamed from the file: its bytes are never held whole beside the table."""
    fs, path = fs_for(url)
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns, filters=filters).to_pandas()


class Placed(NamedTuple):
    """A file a stage wrote in place itself (`ParquetSink`), for `write_stage` to list: its URL and sha256."""

    url: str
    sha256: str


class ParquetSink:
    """A Parquet file written a row group at a time, for tables too large to hold in memory: into a temporary file
    (beside the target on a local root, in the system's temporary folder for a remote one) that `close()` places
    at `url` atomically; `abort()` removes it. A reader never sees a half-written file."""

    def __init__(self, url: str, schema: pa.Schema) -> None:
        self.url = url
        self._fs, self._path = fs_for(url)
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)
        if self._local:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._tmp = f"{self._path}.tmp-{uuid.uuid4().hex}"
        else:
            handle, self._tmp = tempfile.mkstemp(suffix=".parquet", prefix="screenalytics-")
            os.close(handle)
        self._handle = open(self._tmp, "wb")  # noqa: SIM115 - closed by close() or abort()
        self._writer = pq.ParquetWriter(self._handle, schema)

    def write(self, table: pa.Table) -> None:
        try:
            self._writer.write_table(table)
        except OSError as exc:
            self.abort()
            _raise_if_full(self._path, exc)
            raise

    def close(self) -> Placed:
        try:
            self._writer.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            digest = sha256_url(Path(self._tmp).as_uri())
            if self._local:
                os.replace(self._tmp, self._path)
            else:
                self._fs.put_file(self._tmp, self._path)
        except OSError as exc:
            _raise_if_full(self._path, exc)
            raise
        finally:
            self.abort()
        return Placed(self.url, digest)

    def abort(self) -> None:
        """Drop the temporary file (a no-op once closed)."""
        for close in (self._writer.close, self._handle.close):
            with contextlib.suppress(Exception):
                close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


def write_json(obj: Any, url: str) -> str:
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    write_bytes(url, data)
    return hashlib.sha256(data).hexdigest()


def read_json(url: str) -> Any:
    return json.loads(read_bytes(url))


def sha256_url(url: str) -> str:
    """Content hash of the bytes behind a URL, streamed."""
    fs, path = fs_for(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_path(url: str) -> str | None:
    """The filesystem path behind a `file://` URL, else None."""
    fs, path = fs_for(url)
    return path if isinstance(fs, fsspec.implementations.local.LocalFileSystem) else None

