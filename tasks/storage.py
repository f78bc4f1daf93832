"""One storage layer over fsspec URLs (`file://` by default, `s3://bucket/prefix` when scaled).

Writes are atomic: local files go to a temporary name in the same folder and are renamed into place; remote
objects are written with a single PUT. A reader therefore never sees a half-written artifact.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import fsspec
import pandas as pd

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


def write_bytes(url: str, data: bytes) -> None:
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
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(f"{path}: no space left on the disk that holds it ({exc.strerror}). Free some "
                                   "space (or use another --root) and run again: the stages already finished are "
                                   "kept and reused.") from None
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        fs.pipe_file(path, data)


def read_bytes(url: str) -> bytes:
    fs, path = fs_for(url)
    return fs.cat_file(path)


def write_parquet(df: pd.DataFrame, url: str) -> str:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    data = buf.getvalue()
    write_bytes(url, data)
    return hashlib.sha256(data).hexdigest()


def read_parquet(url: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(read_bytes(url)))


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

