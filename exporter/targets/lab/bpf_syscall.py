"""The few bpf(2) commands the lab needs, through ctypes: open a pinned map, batch-update,
batch-delete and count its entries.

bpftool makes one process per entry, so 100,000 Service entries take minutes; the batch syscalls
fill the same maps in a fraction of a second. Only map commands live here; programs are loaded and
attached with bpftool, which already does that well.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

from exporter.errors import LabError

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_BPF_MAP_LOOKUP_ELEM = 1
_BPF_MAP_GET_NEXT_KEY = 4
_BPF_OBJ_GET = 7
_BPF_MAP_UPDATE_BATCH = 26
_BPF_MAP_DELETE_BATCH = 27
_BPF_ANY = 0

_libc = ctypes.CDLL(None, use_errno=True)


class _ObjGet(ctypes.Structure):
    _fields_ = (
        ("pathname", ctypes.c_uint64),
        ("bpf_fd", ctypes.c_uint32),
        ("file_flags", ctypes.c_uint32),
    )


class _Batch(ctypes.Structure):
    _fields_ = (
        ("in_batch", ctypes.c_uint64),
        ("out_batch", ctypes.c_uint64),
        ("keys", ctypes.c_uint64),
        ("values", ctypes.c_uint64),
        ("count", ctypes.c_uint32),
        ("map_fd", ctypes.c_uint32),
        ("elem_flags", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
    )


class _NextKey(ctypes.Structure):
    _fields_ = (
        ("map_fd", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("key", ctypes.c_uint64),
        ("next_key", ctypes.c_uint64),
    )


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    number = _SYS_BPF.get(os.uname().machine)
    if number is None:
        raise LabError(f"bpf(2) syscall number unknown on {os.uname().machine}")
    ret: int = _libc.syscall(number, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


class PinnedMap:
    """A BPF map opened from its pin; use as a context manager to close the fd."""

    def __init__(self, path: str, key_size: int, value_size: int) -> None:
        self.path = path
        self.key_size = key_size
        self.value_size = value_size
        raw = path.encode()
        buf = ctypes.create_string_buffer(raw)
        attr = _ObjGet(pathname=ctypes.addressof(buf), bpf_fd=0, file_flags=0)
        try:
            self.fd = _bpf(_BPF_OBJ_GET, attr)
        except OSError as err:
            raise LabError(f"cannot open pinned BPF map {path}: {err}") from err

    def __enter__(self) -> PinnedMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def update_batch(self, items: Iterable[tuple[bytes, bytes]], chunk: int = 65536) -> int:
        """Insert or replace entries; returns how many were written."""
        written = 0
        keys: list[bytes] = []
        values: list[bytes] = []
        for key, value in items:
            self._check(key, value)
            keys.append(key)
            values.append(value)
            if len(keys) == chunk:
                written += self._update(keys, values)
                keys, values = [], []
        if keys:
            written += self._update(keys, values)
        return written

    def delete_batch(self, keys: Iterable[bytes], chunk: int = 65536) -> int:
        deleted = 0
        batch: list[bytes] = []
        for key in keys:
            batch.append(key)
            if len(batch) == chunk:
                deleted += self._delete(batch)
                batch = []
        if batch:
            deleted += self._delete(batch)
        return deleted

    def keys(self, limit: int = 10_000_000) -> list[bytes]:
        """Every key, by walking GET_NEXT_KEY (bounded by ``limit``)."""
        out: list[bytes] = []
        cur = ctypes.create_string_buffer(self.key_size)
        nxt = ctypes.create_string_buffer(self.key_size)
        attr = _NextKey(map_fd=self.fd, key=0, next_key=ctypes.addressof(nxt))
        while len(out) < limit:
            try:
                _bpf(_BPF_MAP_GET_NEXT_KEY, attr)
            except OSError as err:
                if err.errno == errno.ENOENT:
                    return out
                raise LabError(f"walking BPF map {self.path}: {err}") from err
            out.append(nxt.raw)
            ctypes.memmove(cur, nxt, self.key_size)
            attr.key = ctypes.addressof(cur)
        raise LabError(f"BPF map {self.path} has more than {limit} keys")

    def count(self) -> int:
        return len(self.keys())

    def _check(self, key: bytes, value: bytes) -> None:
        if len(key) != self.key_size or len(value) != self.value_size:
            raise ValueError(
                f"{self.path}: entry sizes {len(key)}/{len(value)} != "
                f"{self.key_size}/{self.value_size}"
            )

    def _update(self, keys: list[bytes], values: list[bytes]) -> int:
        kbuf = ctypes.create_string_buffer(b"".join(keys))
        vbuf = ctypes.create_string_buffer(b"".join(values))
        attr = _Batch(
            keys=ctypes.addressof(kbuf),
            values=ctypes.addressof(vbuf),
            count=len(keys),
            map_fd=self.fd,
            elem_flags=_BPF_ANY,
        )
        try:
            _bpf(_BPF_MAP_UPDATE_BATCH, attr)
        except OSError as err:
            raise LabError(
                f"batch update of {self.path} failed after {attr.count} of {len(keys)}: {err}"
            ) from err
        return int(attr.count)

    def _delete(self, keys: list[bytes]) -> int:
        kbuf = ctypes.create_string_buffer(b"".join(keys))
        attr = _Batch(keys=ctypes.addressof(kbuf), count=len(keys), map_fd=self.fd)
        try:
            _bpf(_BPF_MAP_DELETE_BATCH, attr)
        except OSError as err:
            # ENOENT: some keys were already gone, which is what we wanted anyway.
            if err.errno != errno.ENOENT:
                raise LabError(f"batch delete in {self.path} failed: {err}") from err
        return int(attr.count)
