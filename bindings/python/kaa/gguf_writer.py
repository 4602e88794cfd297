"""Writing GGUF v3 files tensor by tensor, and the F16 / BF16 / Q8_0 encoders (numpy).

Layout written (little endian):
    "GGUF" | u32 version=3 | u64 n_tensors | u64 n_kv
    n_kv      x { string key | u32 value_type | value }
    n_tensors x { string name | u32 n_dims | u64 ne[n_dims] (innermost first) | u32 type | u64 offset }
    zero padding to the alignment | tensor data, each tensor at a multiple of the alignment

The header is fully known before any tensor data (sizes follow from dims and type), so
`GGUFWriter` writes it first and then takes each tensor's bytes in declaration order, in
chunks of any size: converting a 7B model never holds more than one chunk in memory. The
file is written to a temporary name beside the target and renamed into place when
complete, so a failed conversion leaves no truncated model behind.

The encoders are bit-exact with kaa's C++ ones (lib/gguf/quantize.cpp) and with ggml's
reference quantizer: F16 and BF16 round to nearest even; Q8_0 takes d = max|x| / 127 in
f32, q = round-half-away-from-zero(x * (1/d)), and stores d rounded to f16.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# Metadata value types (gguf_type).
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

# ggml tensor types kaa reads, and the general.file_type each gives a file.
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
TYPE_NAMES = {F32: "F32", F16: "F16", Q8_0: "Q8_0", BF16: "BF16"}
TYPE_BY_NAME = {"f32": F32, "f16": F16, "q8_0": Q8_0, "bf16": BF16}
FILE_TYPE = {F32: 0, F16: 1, Q8_0: 7, BF16: 32}
QK8_0 = 32  # elements per Q8_0 block; a block is an f16 scale and 32 int8 (34 bytes)

_SCALAR_FORMATS = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}
_NUMPY_ELEM = {
    UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
    FLOAT32: "<f4", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8",
}


def row_bytes(ggml_type: int, ne0: int) -> int:
    """Bytes of one row of ne0 elements (ne0 a multiple of 32 for Q8_0)."""
    if ggml_type == F32:
        return 4 * ne0
    if ggml_type in (F16, BF16):
        return 2 * ne0
    if ggml_type == Q8_0:
        if ne0 % QK8_0:
            raise ValueError(f"Q8_0 rows must be a multiple of {QK8_0} elements, got {ne0}")
        return ne0 // QK8_0 * (2 + QK8_0)
    raise ValueError(f"unsupported ggml type {ggml_type}")


# ---- encoders ---------------------------------------------------------------------------

def encode_f16(x: np.ndarray) -> np.ndarray:
    """float32 -> IEEE half bits (uint16), round to nearest even; NaN becomes the quiet
    NaN 0x7e00 with its sign, as kaa's C++ encoder does (numpy would keep payload bits)."""
    x = np.asarray(x, dtype=np.float32)
    h = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        h = h.copy()
        h[nan] = (np.signbit(x[nan]).astype(np.uint16) << 15) | 0x7E00
    return h


def encode_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), round to nearest even; NaN stays a (quiet) NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    if nan.any():
        rounded[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def decode_bf16(h: np.ndarray) -> np.ndarray:
    return (np.asarray(h, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


_Q8_0_BLOCK = np.dtype([("d", "<u2"), ("qs", "i1", (QK8_0,))])


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """Rounds float32 values to integers, ties away from zero, in f32 (as kaa's C++ does):
    rint rounds ties to even; a tie that went toward zero is moved one step away."""
    t = np.rint(v)
    r = v - t  # exact, in [-0.5, 0.5]
    t += (r + r) * ((np.abs(r) == 0.5) & (r * v > 0))
    return t


def encode_q8_0(x: np.ndarray) -> np.ndarray:
    """float32 values (a multiple of 32 of them, any shape) -> Q8_0 blocks as uint8 bytes.

    Per block of 32: d = max|x| / 127 computed in f32, q = x * (1/d) rounded half away from
    zero (a block of zeros gets d = 0, q = 0), d stored as f16. NaN or infinite input is
    refused: no meaningful block exists for it.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK8_0)
    amax = np.abs(x).max(axis=1)  # NaN propagates
    if not np.isfinite(amax).all():
        raise ValueError("Q8_0: the weights contain NaN or infinite values")
    d = amax / np.float32(127.0)  # f32 division, as the reference does
    with np.errstate(over="ignore"):  # 1/d of a subnormal d is inf: handled below
        inv = np.divide(np.float32(1.0), d, out=np.zeros_like(d), where=d != 0)
    tiny = (d != 0) & (d < np.finfo(np.float32).tiny)
    if tiny.any():  # a subnormal d: 1/d may overflow; saturate like the reference (NaN -> 0)
        with np.errstate(over="ignore", invalid="ignore"):
            v = x * inv[:, None]
        v = np.clip(np.nan_to_num(v, nan=0.0, posinf=127.0, neginf=-127.0), -127.0, 127.0)
    else:
        v = x * inv[:, None]  # |v| <= 127 * (1 + 3 ulp) < 127.5: no clamping needed
    out = np.empty(x.shape[0], dtype=_Q8_0_BLOCK)
    out["d"] = encode_f16(d)
    out["qs"] = _round_half_away(v).astype(np.int8)
    return out.view(np.uint8)


def decode_q8_0(b: np.ndarray) -> np.ndarray:
    blocks = np.frombuffer(np.ascontiguousarray(b, dtype=np.uint8).tobytes(), dtype=_Q8_0_BLOCK)
    d = blocks["d"].view(np.float16).astype(np.float32)
    return (d[:, None] * blocks["qs"].astype(np.float32)).reshape(-1)


def encode(ggml_type: int, x: np.ndarray) -> np.ndarray:
    """float32 values -> the bytes of `ggml_type` (a uint8 or uint16 array)."""
    if ggml_type == F32:
        return np.ascontiguousarray(x, dtype="<f4")
    if ggml_type == F16:
        return encode_f16(x)
    if ggml_type == BF16:
        return encode_bf16(x)
    if ggml_type == Q8_0:
        return encode_q8_0(x)
    raise ValueError(f"unsupported ggml type {ggml_type}")


# ---- writer -------------------------------------------------------------------------------

MetaValue = Union[int, float, bool, str, Sequence]


class GGUFWriter:
    """Declare metadata and tensors, then `open()` and stream each tensor's bytes in order.

        w = GGUFWriter("out.gguf")
        w.add_string("general.architecture", "mamba")
        w.add_tensor_info("token_embd.weight", [64, 1000], F32)
        with w.open():
            w.write_tensor_data(chunk1); w.write_tensor_data(chunk2)   # any chunking
    """

    def __init__(self, path: Union[str, os.PathLike], alignment: int = DEFAULT_ALIGNMENT) -> None:
        if alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"alignment {alignment} is not a power of two")
        self.path = os.fspath(path)
        self.alignment = alignment
        self._kv: Dict[str, Tuple[int, bytes]] = {}  # key -> (type, encoded value); dicts keep order
        self._tensors: List[Tuple[str, List[int], int, int, int]] = []  # name, ne, type, offset, nbytes
        self._names = set()
        self._file = None
        self._tmp: Optional[str] = None
        self._cur = 0        # tensor being written
        self._done = 0       # bytes of it written so far
        if alignment != DEFAULT_ALIGNMENT:
            self.add_uint32("general.alignment", alignment)

    # -- metadata (a key set twice keeps its first position, takes the new value)
    def _add(self, key: str, vtype: int, payload: bytes) -> None:
        if not key:
            raise ValueError("empty metadata key")
        self._kv[key] = (vtype, payload)

    @staticmethod
    def _string(s: str) -> bytes:
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add_uint32(self, key: str, v: int) -> None:
        self._add(key, UINT32, struct.pack("<I", v))

    def add_int32(self, key: str, v: int) -> None:
        self._add(key, INT32, struct.pack("<i", v))

    def add_uint64(self, key: str, v: int) -> None:
        self._add(key, UINT64, struct.pack("<Q", v))

    def add_float32(self, key: str, v: float) -> None:
        self._add(key, FLOAT32, struct.pack("<f", v))

    def add_bool(self, key: str, v: bool) -> None:
        self._add(key, BOOL, struct.pack("<?", bool(v)))

    def add_string(self, key: str, v: str) -> None:
        self._add(key, STRING, self._string(v))

    def add_array(self, key: str, values: Sequence, elem_type: int) -> None:
        """An array of strings (elem_type STRING) or of one numeric type."""
        head = struct.pack("<IQ", elem_type, len(values))
        if elem_type == STRING:
            body = b"".join(self._string(s) for s in values)
        elif elem_type == BOOL:
            body = bytes(1 if v else 0 for v in values)
        elif elem_type in _NUMPY_ELEM:
            body = np.asarray(values, dtype=_NUMPY_ELEM[elem_type]).tobytes()
        else:
            raise ValueError(f"array of element type {elem_type} is not supported")
        self._add(key, ARRAY, head + body)

    def has_key(self, key: str) -> bool:
        return key in self._kv

    # -- tensors
    def add_tensor_info(self, name: str, ne: Sequence[int], ggml_type: int) -> None:
        """Declares a tensor; `ne` lists dims innermost first (GGUF order)."""
        if self._file is not None:
            raise RuntimeError("tensors must be declared before open()")
        if not name or name in self._names:
            raise ValueError(f"empty or duplicate tensor name {name!r}")
        ne = [int(d) for d in ne]
        if not 1 <= len(ne) <= 4 or min(ne) < 1:
            raise ValueError(f"tensor {name!r}: bad dims {ne}")
        n_rows = 1
        for d in ne[1:]:
            n_rows *= d
        nbytes = row_bytes(ggml_type, ne[0]) * n_rows
        offset = 0
        if self._tensors:
            _, _, _, prev_off, prev_bytes = self._tensors[-1]
            offset = -(-(prev_off + prev_bytes) // self.alignment) * self.alignment
        self._tensors.append((name, ne, ggml_type, offset, nbytes))
        self._names.add(name)

    @property
    def tensors(self) -> List[Tuple[str, List[int], int, int, int]]:
        return list(self._tensors)

    def header_bytes(self) -> bytes:
        parts = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self._tensors), len(self._kv))]
        for key, (vtype, payload) in self._kv.items():
            parts += [self._string(key), struct.pack("<I", vtype), payload]
        for name, ne, ggml_type, offset, _ in self._tensors:
            parts += [self._string(name), struct.pack("<I", len(ne)),
                      struct.pack(f"<{len(ne)}Q", *ne), struct.pack("<IQ", ggml_type, offset)]
        header = b"".join(parts)
        if self._tensors:  # the data section starts aligned
            header += b"\0" * (-len(header) % self.alignment)
        return header

    def file_size(self) -> int:
        h = len(self.header_bytes())
        if not self._tensors:
            return h
        _, _, _, off, nbytes = self._tensors[-1]
        return h + off + nbytes

    # -- streaming
    def open(self) -> "GGUFWriter":
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, self._tmp = tempfile.mkstemp(prefix=os.path.basename(self.path) + ".", suffix=".tmp", dir=folder)
        self._file = os.fdopen(fd, "wb", buffering=4 << 20)
        self._cur, self._done = 0, 0
        header = self.header_bytes()
        self._file.write(header)
        self._base = self._pos = len(header)  # data section start; bytes written
        return self

    def current_tensor(self) -> Optional[str]:
        return self._tensors[self._cur][0] if self._cur < len(self._tensors) else None

    def write_tensor_data(self, data: Union[bytes, bytearray, memoryview, np.ndarray]) -> None:
        """Appends bytes to the tensors in declaration order (chunks may span tensors)."""
        if self._file is None:
            raise RuntimeError("write_tensor_data before open()")
        mv = memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1) if isinstance(data, np.ndarray)
                        else data).cast("B")
        while len(mv):
            if self._cur >= len(self._tensors):
                raise ValueError(f"{len(mv)} bytes more than the declared tensors hold")
            name, _, _, offset, nbytes = self._tensors[self._cur]
            if self._done == 0:  # padding up to this tensor's aligned offset
                self._file.write(b"\0" * (self._base + offset - self._pos))
                self._pos = self._base + offset
            k = min(len(mv), nbytes - self._done)
            self._file.write(mv[:k])
            mv = mv[k:]
            self._done += k
            self._pos += k
            if self._done == nbytes:
                self._cur += 1
                self._done = 0

    def close(self) -> None:
        """Checks every tensor is complete, then renames the file into place."""
        if self._file is None:
            return
        if self._cur < len(self._tensors):
            name, _, _, _, nbytes = self._tensors[self._cur]
            self.abort()
            raise ValueError(f"tensor {name!r} is incomplete ({self._done} of {nbytes} bytes)")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.chmod(self._tmp, 0o644)  # mkstemp makes it 0600; a model file is meant to be shared
        os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        """Closes and deletes the temporary file (no output)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp and os.path.exists(self._tmp):
            os.remove(self._tmp)
        self._tmp = None

    def __enter__(self) -> "GGUFWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_all(writer: GGUFWriter, chunks: Iterable) -> None:
    """Opens `writer`, streams `chunks` (bytes or arrays), and closes it (atomically)."""
    with writer.open():
        for c in chunks:
            writer.write_tensor_data(c)
