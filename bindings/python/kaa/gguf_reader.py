"""A small GGUF (v2/v3) reader in pure Python + numpy, for tools and tests.

It answers "what is in this file": metadata with its value types, and each tensor's name,
dims, type and bytes (a read-only view of a memory mapping, nothing copied). kaa's own
loader is the C++ one (lib/gguf/gguf.cpp, which validates everything); this reader trusts
its input more and is meant for files one has just written.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .gguf_writer import (ARRAY, BF16, BOOL, DEFAULT_ALIGNMENT, F16, F32, GGUF_MAGIC, Q8_0, STRING,
                          _NUMPY_ELEM, _SCALAR_FORMATS, decode_bf16, decode_q8_0, row_bytes)


@dataclass
class GGUFTensor:
    name: str
    ne: List[int]          # innermost first
    type: int              # ggml type id
    offset: int            # from the start of the data section
    data: memoryview = field(repr=False)

    @property
    def shape(self) -> Tuple[int, ...]:
        """numpy order (outermost first): ne reversed."""
        return tuple(reversed(self.ne))

    def numpy(self) -> np.ndarray:
        """The values as float32 in numpy order (dequantized for F16 / BF16 / Q8_0)."""
        raw = np.frombuffer(self.data, dtype=np.uint8)
        if self.type == F32:
            x = raw.view("<f4")
        elif self.type == F16:
            x = raw.view("<f2").astype(np.float32)
        elif self.type == BF16:
            x = decode_bf16(raw.view("<u2"))
        elif self.type == Q8_0:
            x = decode_q8_0(raw)
        else:
            raise ValueError(f"tensor {self.name}: unsupported type {self.type}")
        return x.reshape(self.shape)


class GGUFReader:
    def __init__(self, path: Union[str, os.PathLike]) -> None:
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._buf = memoryview(self._mm)
        self._pos = 0
        if bytes(self._buf[:4]) != GGUF_MAGIC:
            raise ValueError(f"{self.path}: not a GGUF file")
        self.version, n_tensors, n_kv = struct.unpack_from("<IQQ", self._buf, 4)
        if self.version not in (2, 3):
            raise ValueError(f"{self.path}: GGUF version {self.version} is not supported")
        self._pos = 24
        self.fields: Dict[str, Tuple[int, Any]] = {}       # key -> (value type, value)
        self.array_types: Dict[str, int] = {}              # key -> element type, for arrays
        for _ in range(n_kv):
            key = self._str()
            vtype = self._u32()
            if vtype == ARRAY:
                elem = self._u32()
                self.array_types[key] = elem
                self.fields[key] = (vtype, self._array(elem))
            else:
                self.fields[key] = (vtype, self._scalar(vtype))
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            n_dims = self._u32()
            ne = list(struct.unpack_from(f"<{n_dims}Q", self._buf, self._pos))
            self._pos += 8 * n_dims
            ttype = self._u32()
            (offset,) = struct.unpack_from("<Q", self._buf, self._pos)
            self._pos += 8
            infos.append((name, ne, ttype, offset))
        align = int(self.get("general.alignment", DEFAULT_ALIGNMENT))
        self.alignment = align
        self.data_offset = -(-self._pos // align) * align
        self.tensors: List[GGUFTensor] = []
        for name, ne, ttype, offset in infos:
            rows = int(np.prod(ne[1:], dtype=np.int64)) if len(ne) > 1 else 1
            n = row_bytes(ttype, ne[0]) * rows
            start = self.data_offset + offset
            if start + n > len(self._buf):
                raise ValueError(f"{self.path}: tensor {name} lies past the end of the file")
            self.tensors.append(GGUFTensor(name, ne, ttype, offset, self._buf[start:start + n]))
        self._by_name = {t.name: t for t in self.tensors}

    # -- primitive readers
    def _u32(self) -> int:
        (v,) = struct.unpack_from("<I", self._buf, self._pos)
        self._pos += 4
        return v

    def _str(self) -> str:
        (n,) = struct.unpack_from("<Q", self._buf, self._pos)
        s = bytes(self._buf[self._pos + 8:self._pos + 8 + n]).decode("utf-8")
        self._pos += 8 + n
        return s

    def _scalar(self, vtype: int) -> Any:
        if vtype == STRING:
            return self._str()
        fmt = _SCALAR_FORMATS[vtype]
        (v,) = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += struct.calcsize(fmt)
        return v

    def _array(self, elem: int) -> Any:
        (n,) = struct.unpack_from("<Q", self._buf, self._pos)
        self._pos += 8
        if elem == STRING:
            return [self._str() for _ in range(n)]
        if elem == ARRAY:
            out = []
            for _ in range(n):
                out.append(self._array(self._u32()))
            return out
        if elem == BOOL:
            v = [b != 0 for b in self._buf[self._pos:self._pos + n]]
            self._pos += n
            return v
        dt = np.dtype(_NUMPY_ELEM[elem])
        v = np.frombuffer(self._buf, dtype=dt, count=n, offset=self._pos).tolist()
        self._pos += n * dt.itemsize
        return v

    # -- queries
    def get(self, key: str, default: Any = None) -> Any:
        f = self.fields.get(key)
        return default if f is None else f[1]

    def value_type(self, key: str) -> Optional[int]:
        f = self.fields.get(key)
        return None if f is None else f[0]

    def keys(self) -> List[str]:
        return list(self.fields)

    def tensor(self, name: str) -> Optional[GGUFTensor]:
        return self._by_name.get(name)

    def close(self) -> None:
        """Unmaps the file. Arrays still viewing it keep the mapping alive instead."""
        self.tensors, self._by_name = [], {}
        try:
            self._buf.release()
            self._mm.close()
        except BufferError:
            pass  # numpy views of tensor data are alive; the mapping goes with them

    def __enter__(self) -> "GGUFReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
