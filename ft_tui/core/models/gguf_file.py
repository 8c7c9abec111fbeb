"""A GGUF file's header read directly, and the check that the file is whole.

The header is parsed here (with the ``gguf`` package's enums) rather than with
``gguf.GGUFReader``: the reader turns each of the 49,152 vocabulary strings of the
default model into a numpy array and took 7 s on it, against 45 ms for a pass that
skips them.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ft_tui.core.errors import ModelNotFound

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
DEFAULT_ALIGNMENT = 32   # general.alignment when the file does not say


def read_gguf_header(path: Path) -> tuple[dict, dict[str, tuple[int, str]]]:
    """(metadata, {tensor name: (elements, ggml type name)}). Arrays are skipped and
    stored as their length, which is all a profile needs from the vocabulary."""
    meta, tensors, _ = _parse(path)
    return meta, {name: (count, type_name) for name, count, type_name, _ in tensors}


def gguf_sizes(path: Path) -> tuple[int, int]:
    """(bytes the header says the file holds, bytes it has)."""
    meta, tensors, table_end = _parse(path)
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    align = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    align = align if isinstance(align, int) and align > 0 else DEFAULT_ALIGNMENT
    data_start = -(-table_end // align) * align
    end = data_start
    for _name, count, type_name, offset in tensors:
        try:
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
        except KeyError:
            continue   # a type this gguf package does not know: its size is unknown
        end = max(end, data_start + offset + count // block * size)
    return end, Path(path).stat().st_size


def check_gguf(path: Path, fix: str) -> None:
    """ModelNotFound, in one line, when ``path`` is not a whole GGUF file (a download cut
    short, a disk that filled up, an error page saved under the model's name): its header
    and tensor table must parse and the file must hold every tensor's bytes. ``fix`` says
    what to do about it."""
    size = Path(path).stat().st_size
    try:
        needed, size = gguf_sizes(path)
        detail = f"its tensors need {needed} bytes" if needed > size else None
    except (ValueError, KeyError, struct.error, UnicodeDecodeError, OverflowError) as exc:
        detail = ("it is empty" if not size else
                  "it does not start with the GGUF magic bytes" if "magic" in str(exc) else
                  f"its header cannot be read: {exc}")
    if detail is not None:
        raise ModelNotFound(f"{path}: the GGUF file is truncated or damaged ({size} bytes; "
                            f"{detail}); {fix}")


def _parse(path: Path) -> tuple[dict, list[tuple[str, int, str, int]], int]:
    """(metadata, [(name, elements, type name, data offset)], where the tensor table ends)."""
    from gguf import GGMLQuantizationType, GGUFValueType

    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ValueError("no GGUF magic number")
        pos = 4

        def read(fmt: str):
            nonlocal pos
            (value,) = struct.unpack_from(fmt, buf, pos)
            pos += struct.calcsize(fmt)
            return value

        def string() -> str:
            nonlocal pos
            size = read("<Q")
            if pos + size > len(buf):
                raise ValueError("a string runs past the end of the file")
            pos += size
            return bytes(buf[pos - size:pos]).decode("utf-8")

        def value(kind: int):
            nonlocal pos
            if kind == _GGUF_STRING:
                return string()
            if kind != _GGUF_ARRAY:
                return read(_GGUF_SCALARS[GGUFValueType(kind).value])
            item, count = read("<I"), read("<Q")
            if item == _GGUF_STRING:
                for _ in range(count):
                    pos += 8 + struct.unpack_from("<Q", buf, pos)[0]
            elif item in _GGUF_SCALARS:
                pos += struct.calcsize(_GGUF_SCALARS[item]) * count
            else:
                raise ValueError(f"nested array of type {item} is not supported")
            return count

        version = read("<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        n_tensors, n_kv = read("<Q"), read("<Q")
        meta = {}
        for _ in range(n_kv):
            name = string()
            meta[name] = value(read("<I"))
        tensors = []
        for _ in range(n_tensors):
            name = string()
            dims = [read("<Q") for _ in range(read("<I"))]
            kind = read("<I")
            offset = read("<Q")
            count = 1
            for dim in dims:
                count *= dim
            try:
                type_name = GGMLQuantizationType(kind).name
            except ValueError:
                type_name = f"type{kind}"
            tensors.append((name, count, type_name, offset))
        if pos > len(buf):
            raise ValueError("the tensor table runs past the end of the file")
    return meta, tensors, pos
