"""The raw archive: every fetched response in compressed WARC files.

The processing stage re-extracts text from here without refetching. Each record
is its own gzip member, so a reader seeks straight to a record's offset, and a
run killed mid-write loses at most the record being written. Files live under
``<state_dir>/warc/`` and rotate at a configured size.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Scrapy hands over the body decoded (decompressed, de-chunked); these headers
# describe the wire form, so they would make the record unreadable.
_WIRE_ONLY_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class ArchivedResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


class WarcArchive:
    """Appends response records to ``<state_dir>/warc/<run_id>-<n>.warc.gz``."""

    def __init__(self, state_dir: Path, run_id: str, max_file_bytes: int):
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.max_file_bytes = max_file_bytes
        self._index = -1
        self._file: io.BufferedWriter | None = None
        self._writer: WARCWriter | None = None
        self._relative: str | None = None

    def _rotate(self) -> None:
        self.close()
        self._index += 1
        relative = Path("warc") / f"{self.run_id}-{self._index:05d}.warc.gz"
        path = self.state_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # Append: a resumed run id never overwrites records other batches point at.
        self._file = open(path, "ab")
        self._writer = WARCWriter(self._file, gzip=True)
        self._relative = relative.as_posix()

    def write_response(
        self, url: str, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, fetched_at: str
    ) -> tuple[str, int]:
        """Append one response record; returns (file relative to the state dir, byte offset)."""
        if self._file is None or self._file.tell() >= self.max_file_bytes:
            self._rotate()
        assert self._file is not None and self._writer is not None and self._relative is not None
        http_headers = StatusAndHeaders(
            f"{status} {reason}".strip(),
            [(k, v) for k, v in headers if k.lower() not in _WIRE_ONLY_HEADERS] + [("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        record = self._writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            http_headers=http_headers,
            warc_headers_dict={"WARC-Date": fetched_at, "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>"},
        )
        offset = self._file.tell()
        self._writer.write_record(record)
        self._file.flush()
        return self._relative, offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


def read_response(state_dir: Path, warc_file: str, offset: int) -> ArchivedResponse:
    """Read back the response record a ``FetchedPage`` points at (``warc_file``, ``warc_offset``)."""
    with open(Path(state_dir) / warc_file, "rb") as handle:
        handle.seek(offset)
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                raise ValueError(f"{warc_file}@{offset} is a {record.rec_type!r} record, not a response")
            if record.http_headers is None:
                # An offset inside another record can still parse as a headerless record.
                raise ValueError(f"{warc_file}@{offset} holds no HTTP response (wrong offset?)")
            return ArchivedResponse(
                url=record.rec_headers.get_header("WARC-Target-URI"),
                status=int(record.http_headers.get_statuscode()),
                headers=dict(record.http_headers.headers),
                body=record.content_stream().read(),
            )
    raise ValueError(f"no WARC record at {warc_file}@{offset}")
