"""A minimal in-tree PEP 517 backend: builds the demo_py wheel with the standard library.

It keeps the demo offline and free of build requirements (no setuptools, no wheel).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

NAME, VERSION = "demo_py", "1.0"
TAG = "py3-none-any"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
ROOT = Path(__file__).resolve().parent.parent


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _files() -> dict[str, bytes]:
    files = {
        f"{NAME}/{p.name}": p.read_bytes() for p in sorted((ROOT / NAME).glob("*.py"))
    }
    files[f"{DIST_INFO}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
        "Summary: A pure-Python package of mason's demo catalog\n"
    ).encode()
    files[f"{DIST_INFO}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: demo-backend\nRoot-Is-Purelib: true\nTag: {TAG}\n"
    ).encode()
    return files


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """Write ``demo_py-1.0-py3-none-any.whl`` into ``wheel_directory``; return its name."""
    name = f"{NAME}-{VERSION}-{TAG}.whl"
    files = _files()
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{DIST_INFO}/RECORD,,")
    files[f"{DIST_INFO}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as whl:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            whl.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return name
