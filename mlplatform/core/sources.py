"""Read Made With ML tables from a source: an http(s) prefix, a directory or an fsspec URI."""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

# The pinned Made With ML data ships with the package (MIT, see its LICENSE), so the platform
# runs offline; the same files at their public home are one setting away.
SHIPPED_DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "madewithml"
PUBLIC_SOURCE = (
    "https://raw.githubusercontent.com/GokuMohandas/Made-With-ML/"
    "e8dfdbe98f55cba8befaf8409e16e48fac2d26d8/datasets"
)
DEFAULT_SOURCE = str(SHIPPED_DATA_DIR)
OFFLINE_HINT = (
    "; without network access, unset MLPLATFORM_SOURCE to read the copy shipped in "
    "mlplatform/data/madewithml"
)
# Names a user may give `MLPLATFORM_SOURCE` instead of a location.
SOURCE_ALIASES = {"shipped": DEFAULT_SOURCE, "public": PUBLIC_SOURCE}

INTEGER, TIMESTAMP, TEXT = "integer", "timestamp", "text"


@dataclass(frozen=True)
class TableSpec:
    """A source table: its file name, the type of each expected column, what it holds."""

    name: str
    columns: Mapping[str, str]
    description: str = ""

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"


PROJECTS = TableSpec(
    "projects",
    {"id": INTEGER, "created_on": TIMESTAMP, "title": TEXT, "description": TEXT},
    "Made With ML projects: id, created_on, title, description.",
)
TAGS = TableSpec("tags", {"id": INTEGER, "tag": TEXT}, "The tag of each project: id, tag.")
# An optional column of the tags file: when each label was given (see `labels_known_at`).
LABELED_ON = "labeled_on"
# The raw tables every ingestion backend lands, by name; dbt's sources and the GX suites
# (gx/expectations/<name>.json) use the same names.
RAW_TABLES = {spec.name: spec for spec in (PROJECTS, TAGS)}


class SourceError(Exception):
    """The source could not be read. `retryable` tells whether trying again may help."""

    retryable = False


class SourceUnavailableError(SourceError):
    """A transient failure (network, 5xx, timeout): worth retrying."""

    retryable = True


class SourceNotFoundError(SourceError):
    """The file does not exist at the location."""


class SourceFormatError(SourceError):
    """The file exists but its content cannot be parsed or typed."""


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")


def scrubbed(text: str) -> str:
    """`text` with the user and password of every URL in it removed (error messages quote
    the URLs they failed on)."""
    return _USERINFO.sub("", text)


def without_credentials(uri: str) -> str:
    """`uri` without a user or password (`scheme://user:secret@host/...` → `scheme://host/...`),
    safe to show in messages, logs and metadata."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def shown(uri: str) -> str:
    """`uri` as messages and logs show it: no credentials, and no query string (a presigned
    URL's signature lives there)."""
    parts = urlsplit(without_credentials(uri))
    return urlunsplit(parts._replace(query="…" if parts.query else "", fragment=""))


# Where a source may live: local files, HTTP(S) and the object stores fsspec reaches. Other
# fsspec protocols (ssh, ftp, git, chained "a::b" URLs, ...) are refused.
SOURCE_PROTOCOLS = ("file", "http", "https", "s3", "gs", "gcs", "az", "abfs", "abfss")
# A source file larger than this is refused before it fills the memory of the step reading it.
MAX_SOURCE_BYTES = 2**30


def check_protocol(uri: str) -> None:
    """A location whose protocol is not in `SOURCE_PROTOCOLS` is refused, naming it."""
    protocol = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    if "::" in uri or protocol not in SOURCE_PROTOCOLS:
        raise SourceError(
            f"{shown(uri)}: protocol {protocol!r} is not allowed for a source "
            f"(allowed: {', '.join(SOURCE_PROTOCOLS)}, or a local path)"
        )


def _unavailable(uri: str, error: Exception) -> SourceUnavailableError:
    """A transient failure; for a URL, with how to work without the network."""
    hint = OFFLINE_HINT if is_http(uri) else ""
    return SourceUnavailableError(f"{shown(uri)}: {scrubbed(str(error))}{hint}")


def table_uri(location: str, spec: TableSpec) -> str:
    """Where a table lives under a source location (URL prefix, directory or fsspec URI)."""
    return f"{location.rstrip('/')}/{spec.file_name}"


def read_table(location: str, spec: TableSpec) -> pd.DataFrame:
    """Read one table as typed columns. Missing or extra columns are left for validation."""
    uri = table_uri(location, spec)
    raw = _read_csv_text(uri)
    return type_columns(raw, spec, shown(uri))


def _read_csv_text(uri: str) -> pd.DataFrame:
    data = read_bytes(uri)
    uri = shown(uri)
    _check_text(data, uri)
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name.
        return pd.read_csv(
            io.BytesIO(data),
            dtype="string",
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceFormatError(f"{uri}: not a readable CSV file ({error})") from error


def read_bytes(uri: str, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The whole file, read once: it is checked as text before pandas parses it. A file over
    `limit` bytes is refused."""
    check_protocol(uri)
    try:
        if is_http(uri):
            with urllib.request.urlopen(uri, timeout=60) as response:
                data = response.read(limit + 1)
        elif "://" not in uri:
            with Path(uri).open("rb") as file:
                data = file.read(limit + 1)
        else:
            import fsspec

            with fsspec.open(uri, "rb") as file:
                data = file.read(limit + 1)
    except FileNotFoundError as error:
        raise SourceNotFoundError(f"{shown(uri)}: file not found") from error
    except urllib.error.HTTPError as error:
        message = f"{shown(uri)}: HTTP {error.code} {error.reason}"
        if error.code in (408, 425, 429) or error.code >= 500:
            raise SourceUnavailableError(message) from error
        raise SourceNotFoundError(message) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        raise _unavailable(uri, error) from error
    if len(data) > limit:
        raise SourceFormatError(f"{shown(uri)}: larger than {limit} bytes, refused")
    return data


def _check_text(data: bytes, uri: str) -> None:
    """UTF-8 text without NUL bytes: pandas would cut a cell at a NUL and keep the rest."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SourceFormatError(
            f"{uri}: line {line} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from error
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise SourceFormatError(f"{uri}: line {line} holds a NUL byte (offset {nul}): not text")


def type_columns(frame: pd.DataFrame, spec: TableSpec, uri: str) -> pd.DataFrame:
    """Cast the expected columns to their types, naming the rows that do not fit."""
    typed = frame.copy()
    for column, kind in spec.columns.items():
        if column not in typed.columns:
            continue
        typed[column] = _cast(typed[column], kind, uri)
    return typed


def _cast(values: pd.Series, kind: str, uri: str) -> pd.Series:
    if kind == TEXT:
        return values.astype("string")
    if kind == INTEGER:
        cast = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & (cast.isna() | (cast % 1 != 0)).fillna(True)
        _raise_for_bad_values(values, bad, uri, "an integer")
        return cast.astype("Int64")
    cast = pd.to_datetime(values, errors="coerce", format="ISO8601")
    _raise_for_bad_values(values, values.notna() & cast.isna(), uri, "a timestamp")
    # Microseconds: a plain TIMESTAMP in DuckDB and BigQuery (nanoseconds are DuckDB-only).
    return cast.astype("datetime64[us]")


def _raise_for_bad_values(values: pd.Series, bad: pd.Series, uri: str, expected: str) -> None:
    if not bad.any():
        return
    # Rows as a spreadsheet numbers them: the header is row 1. (A cell may span lines.)
    samples = ", ".join(f"row {index + 2}: {values[index]!r}" for index in values.index[bad][:5])
    raise SourceFormatError(
        f"{uri}: column {values.name!r} has {int(bad.sum())} value(s) that are not {expected} "
        f"({samples})"
    )


def visible_as_of(projects: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Projects created at or before `as_of` (all of them when `as_of` is None)."""
    if as_of is None or "created_on" not in projects.columns:
        return projects
    return projects[projects["created_on"] <= as_of].reset_index(drop=True)


def tags_visible_as_of(tags: pd.DataFrame, visible_projects: pd.DataFrame) -> pd.DataFrame:
    """A tag is visible when its project is (and, per `labels_known_at`, once labeled)."""
    if "id" not in tags.columns or "id" not in visible_projects.columns:
        return tags
    return tags[tags["id"].isin(visible_projects["id"])].reset_index(drop=True)


def labels_known_at(tags: pd.DataFrame, as_of: pd.Timestamp | None, uri: str) -> pd.DataFrame:
    """The tags labeled by `as_of`, without the optional `LABELED_ON` column (the raw table holds
    what is known, not when it became so). Labels come after their projects: a tags file may say
    when each was given; a blank `labeled_on` means labeled with the project. Without `as_of`
    every tag in the file is known."""
    if LABELED_ON not in tags.columns:
        return tags
    labeled_on = _cast(tags[LABELED_ON], TIMESTAMP, uri)  # a bad value is named, as_of or not
    if as_of is not None:
        tags = tags[labeled_on.isna() | (labeled_on <= as_of)]
    return tags.drop(columns=LABELED_ON).reset_index(drop=True)


def parse_as_of(value: str | None) -> pd.Timestamp | None:
    """Parse MLPLATFORM_SOURCE_AS_OF; a bad value is an error naming the variable."""
    if not value:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError as error:
        raise ValueError(
            f"MLPLATFORM_SOURCE_AS_OF={value!r} is not a timestamp (e.g. 2020-06-01)"
        ) from error


def file_fingerprint(uri: str) -> str:
    """A cheap identity of a file: HEAD headers over http(s), size + mtime elsewhere."""
    check_protocol(uri)
    try:
        if is_http(uri):
            return _http_fingerprint(uri)
        if "://" not in uri:
            stat = Path(uri).stat()
            return f"{stat.st_size}:{stat.st_mtime_ns}"
        import fsspec

        filesystem, path = fsspec.core.url_to_fs(uri)
        info = filesystem.info(path)
        keys = ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "size")
        return ":".join(str(info[key]) for key in keys if key in info)
    except FileNotFoundError as error:
        raise SourceNotFoundError(f"{shown(uri)}: file not found") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        raise _unavailable(uri, error) from error


def _http_fingerprint(uri: str) -> str:
    request = urllib.request.Request(uri, method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        headers = response.headers
        parts = [headers.get(name, "") for name in ("ETag", "Last-Modified", "Content-Length")]
    return ":".join(parts)


def data_fingerprint(frame: pd.DataFrame) -> dict[str, Any]:
    """Row count and a content hash, so a model records exactly which data it saw."""
    ordered = frame.sort_values("id").reset_index(drop=True) if "id" in frame else frame
    row_hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return {"rows": len(frame), "sha256": hashlib.sha256(row_hashes.tobytes()).hexdigest()}
