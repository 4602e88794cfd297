"""Reading (and, for tests, writing) the safetensors format without the safetensors package.

The format: u64 little-endian N | N bytes of JSON header | raw tensor data. The header maps
each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
the end of the header) and may hold "__metadata__" (string to string). Tensors are
row-major, little endian.

`SafetensorsFile` memory-maps the file and hands out numpy views: nothing is read until
a converter touches the rows it needs, so a 14 GiB checkpoint costs no heap. Sharded
checkpoints (model.safetensors.index.json + model-0000N-of-0000M.safetensors) are opened
through `open_checkpoint`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

# safetensors dtype -> numpy dtype; BF16 has no numpy type and is read as its uint16 bits.
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
_MAX_HEADER = 100 << 20  # the reference implementation's limit


class SafetensorsError(ValueError):
    pass


class SafetensorsFile:
    """One .safetensors file, memory-mapped; tensors are numpy views into the mapping."""

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        self.path = os.fspath(path)
        size = os.path.getsize(self.path)
        if size < 8:
            raise SafetensorsError(f"{self.path}: too short to be a safetensors file")
        with open(self.path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > min(_MAX_HEADER, size - 8):
                raise SafetensorsError(f"{self.path}: header length {n} is invalid")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise SafetensorsError(f"{self.path}: header is not JSON ({e})") from None
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > 8 + n else None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{self.path}: header is not a JSON object")
        self.metadata: Dict[str, str] = header.pop("__metadata__", None) or {}
        self._base = 8 + n
        self._info: Dict[str, Tuple[str, List[int], int, int]] = {}
        for name, h in header.items():
            try:
                dtype, shape, (begin, end) = h["dtype"], [int(d) for d in h["shape"]], h["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise SafetensorsError(f"{self.path}: bad header entry for {name!r}") from None
            if dtype not in _DTYPES:
                raise SafetensorsError(f"{self.path}: tensor {name!r} has unsupported dtype {dtype}")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if end - begin != count * np.dtype(_DTYPES[dtype]).itemsize or begin < 0 \
                    or self._base + end > size:
                raise SafetensorsError(f"{self.path}: tensor {name!r} has inconsistent offsets")
            self._info[name] = (dtype, shape, begin, end)

    def keys(self) -> List[str]:
        return list(self._info)

    def dtype(self, name: str) -> str:
        return self._info[name][0]

    def shape(self, name: str) -> List[int]:
        return list(self._info[name][1])

    def raw(self, name: str) -> np.ndarray:
        """The stored values as a read-only numpy view (BF16 as uint16 bits)."""
        dtype, shape, begin, end = self._info[name]
        dt = np.dtype(_DTYPES[dtype])
        if end == begin:
            return np.zeros(shape, dtype=dt)
        return np.frombuffer(self._mm, dtype=dt, count=(end - begin) // dt.itemsize,
                             offset=self._base + begin).reshape(shape)

    def release(self, name: str, first_row: int = 0, end_row: Optional[int] = None) -> None:
        """Tells the OS the rows [first_row, end_row) of a tensor are no longer needed, so
        their pages leave this process's resident set (they stay in the page cache, and
        are read again if touched). Keeps a converter's RSS at a few chunks, not the
        checkpoint's size. A no-op where madvise is unavailable."""
        if self._mm is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        dtype, shape, begin, end = self._info[name]
        row = (end - begin) // max(1, shape[0]) if shape else end - begin
        lo = self._base + begin + first_row * row
        hi = self._base + (end if end_row is None else begin + end_row * row)
        lo = lo // mmap.PAGESIZE * mmap.PAGESIZE  # whole pages only: partial ones may hold other rows
        hi = hi // mmap.PAGESIZE * mmap.PAGESIZE
        if hi > lo:
            self._mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def close(self) -> None:
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass  # views are still alive; the mapping is released with them
            self._mm = None


def to_float32(a: np.ndarray, dtype: str) -> np.ndarray:
    """Stored values (as returned by raw()) -> float32 (exact for F16, BF16, F32)."""
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    if dtype in ("F32", "F16", "F64"):
        return a.astype(np.float32)
    raise SafetensorsError(f"a {dtype} tensor cannot be a model weight")


class Checkpoint:
    """All tensors of a (possibly sharded) checkpoint folder, by name."""

    def __init__(self, files: List[SafetensorsFile]) -> None:
        self.files = files
        self._where: Dict[str, SafetensorsFile] = {}
        for f in files:
            for k in f.keys():
                if k in self._where:
                    raise SafetensorsError(f"tensor {k!r} appears in {self._where[k].path} and {f.path}")
                self._where[k] = f

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def keys(self) -> List[str]:
        return list(self._where)

    def dtype(self, name: str) -> str:
        return self._where[name].dtype(name)

    def shape(self, name: str) -> List[int]:
        return self._where[name].shape(name)

    def raw(self, name: str) -> np.ndarray:
        return self._where[name].raw(name)

    def release(self, name: str, first_row: int = 0, end_row: Optional[int] = None) -> None:
        self._where[name].release(name, first_row, end_row)

    def float32(self, name: str) -> np.ndarray:
        return to_float32(self.raw(name), self.dtype(name))

    def close(self) -> None:
        for f in self.files:
            f.close()


def open_checkpoint(folder: Union[str, os.PathLike]) -> Checkpoint:
    """model.safetensors, or the shards listed in model.safetensors.index.json."""
    folder = os.fspath(folder)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            weight_map: Mapping[str, str] = json.load(f).get("weight_map", {})
        shards = sorted(set(weight_map.values()))
        if not shards:
            raise SafetensorsError(f"{index}: empty weight_map")
        missing = [s for s in shards if not os.path.exists(os.path.join(folder, s))]
        if missing:
            raise FileNotFoundError(f"{folder}: shard(s) listed in model.safetensors.index.json are "
                                    f"missing: {', '.join(missing)}")
        ckpt = Checkpoint([SafetensorsFile(os.path.join(folder, s)) for s in shards])
        absent = [k for k in weight_map if k not in ckpt]
        if absent:
            raise SafetensorsError(f"{index} names tensors no shard holds: {', '.join(absent[:5])}")
        return ckpt
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        return Checkpoint([SafetensorsFile(single)])
    others = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))
    if others:
        return Checkpoint([SafetensorsFile(os.path.join(folder, n)) for n in others])
    hint = ""
    if any(n.endswith((".bin", ".pt", ".pth")) for n in os.listdir(folder)):
        hint = (" (only PyTorch pickle weights were found: load and save_pretrained() the model "
                "with safe_serialization=True first; kaa.convert does not unpickle)")
    raise FileNotFoundError(f"{folder}: no model.safetensors or model.safetensors.index.json{hint}")


def save_file(tensors: Mapping[str, np.ndarray], path: Union[str, os.PathLike],
              metadata: Optional[Mapping[str, str]] = None, dtypes: Optional[Mapping[str, str]] = None) -> None:
    """Writes numpy arrays as a safetensors file (tests and tools). `dtypes` may ask for
    "BF16" for a float32 array (rounded to nearest even); otherwise the array's dtype is kept."""
    from .gguf_writer import encode_bf16

    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    names = {np.dtype(v).str: k for k, v in _DTYPES.items() if k != "BF16"}
    for name, arr in tensors.items():
        want = (dtypes or {}).get(name)
        if want == "BF16":
            data = encode_bf16(np.asarray(arr, dtype=np.float32))
            shape, st_dtype = list(np.shape(arr)), "BF16"
        else:
            data = np.ascontiguousarray(arr)
            data = data.astype(data.dtype.newbyteorder("<"))
            shape, st_dtype = list(data.shape), names[data.dtype.str]
        b = data.tobytes()
        header[name] = {"dtype": st_dtype, "shape": shape, "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # keep the data 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

