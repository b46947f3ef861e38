#!/usr/bin/env python3
"""Regenerate the demo catalog's upstream tarballs from ``sources/``, byte for byte.

Each ``sources/<name>-<version>/`` becomes ``upstream/<name>-<version>.tar.gz`` with
sorted members, fixed times, owners and modes, and a gzip header without a time stamp,
so the same sources always give the same bytes. The ``sha256=`` line of the recipe's
``pkgs/<name>/checksums.ini`` is updated to match.

    python3 examples/demo/make-tarballs.py           # write tarballs and checksums
    python3 examples/demo/make-tarballs.py --check   # exit 1 if anything is out of date
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import sys
import tarfile
from pathlib import Path

DEMO = Path(__file__).resolve().parent
MTIME = 1_700_000_000  # fixed member time (2023-11-14), newer than nothing make cares about


def _tar_info(path: Path, arcname: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if path.is_dir():
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size = path.stat().st_size
        info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
    return info


def tarball_bytes(source: Path) -> bytes:
    """The deterministic ``.tar.gz`` of the directory ``source`` (top directory kept)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [source, *sorted(source.rglob("*"))]:
            if "__pycache__" in path.parts:
                continue
            arcname = path.relative_to(source.parent).as_posix()
            info = _tar_info(path, arcname)
            if path.is_dir():
                tar.addfile(info)
            else:
                with path.open("rb") as f:
                    tar.addfile(info, f)
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def _update_checksum(name: str, digest: str, check: bool) -> bool:
    ini = DEMO / "pkgs" / name / "checksums.ini"
    text = ini.read_text()
    new = re.sub(r"^sha256=.*$", f"sha256={digest}", text, flags=re.M)
    if new == text:
        return True
    if not check:
        ini.write_text(new)
    return False


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    (DEMO / "upstream").mkdir(exist_ok=True)
    for source in sorted(p for p in (DEMO / "sources").iterdir() if p.is_dir()):
        name = source.name.rsplit("-", 1)[0]
        data = tarball_bytes(source)
        target = DEMO / "upstream" / f"{source.name}.tar.gz"
        fresh = target.is_file() and target.read_bytes() == data
        if not fresh and not check:
            target.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if not (_update_checksum(name, digest, check) and fresh):
            stale.append(source.name)
    if check and stale:
        print("out of date:", ", ".join(stale), file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote upstream/{name}.tar.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
