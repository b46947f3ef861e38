"""Unpacked wheels, kept in the user's cache and hard-linked into later staging trees.

Installing a wheel a second time (a rebuilt prefix, a second prefix, a reinstall) need
not unpack, hash and byte-compile it again: the first staging links every file into an
entry of this cache, and later stagings link them back out (as uv and pnpm do). A link
costs a tenth of creating and writing a file, and nothing has to be read.

An entry is keyed by the wheel's sha256, the interpreter (cache tag and magic number),
the venv's scheme layout and the installer name: everything its files depend on except
the venv's location. The few files that name the location (the launchers and
``#!python`` scripts of the scripts scheme) are made again for the venv at hand, and
RECORD is rewritten with their new hashes.

An entry keeps its files side by side, named by their place in the manifest
(``files/0``, ``files/1``...): filling the cache makes one directory per wheel, not a copy
of the wheel's tree (a directory costs about what a file does to create).

Trust: an entry is written in a temporary directory and renamed into place whole. Its
manifest keeps the path, size and modification time of every file; an entry whose files do not
match (someone edited an installed file in place, which edits the cache too) is thrown
away and the wheel staged again. Staged files stay the wheel's own files: the store takes
the manifest's digests instead of hashing them again, and accepts their extra links.
A cache on another filesystem than the prefix cannot be linked from: staging then just
unpacks the wheel.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mason.python.destination import LocatedScript, record_digest, script_bytes
from mason.python.venv import SCHEME_NAMES, Venv
from mason.python.wheels import StagedWheel, path_order
from mason.store.staged import sha256_file

FORMAT = 2
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class UnpackedCache:
    """Entries of unpacked wheels under ``root`` (``<cache>/unpacked``)."""

    root: Path

    def key(
        self, wheel: Path, venv: Venv, installer_name: str, sha256: str | None = None
    ) -> str | None:
        """The entry name of ``wheel`` (whose verified ``sha256`` the caller may know)
        staged for ``venv`` (any location of it); ``None`` when the wheel cannot be read
        (staging it says why)."""
        layout = [str(venv.relative.get(name)) for name in SCHEME_NAMES]
        magic = importlib.util.MAGIC_NUMBER.hex()
        try:
            digest = sha256.lower() if sha256 else sha256_file(wheel)
        except OSError:
            return None
        what = [FORMAT, digest, venv.cache_tag, magic, layout, installer_name]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()

    def take(
        self, key: str, wheel: Path, venv: Venv, staged_root: Path, tree_root: Path
    ) -> StagedWheel | None:
        """Link entry ``key`` into ``staged_root`` (standing for ``tree_root``); ``None``
        when there is no sound entry or linking fails (nothing is left behind then)."""
        entry = self.root / key
        manifest = _read_manifest(entry)
        if manifest is None:
            return None
        if not _intact(entry, manifest):
            _drop(entry)
            return None
        placed: list[str] = []
        try:
            offset = _offset(venv, tree_root)
            return _link_out(entry, manifest, wheel, venv, staged_root, tree_root, offset, placed)
        except (OSError, KeyError, TypeError, ValueError):  # a link failed, or a bad manifest
            for path in reversed(placed):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return None

    def keep(self, key: str, staged: StagedWheel, venv: Venv) -> None:
        """Make entry ``key`` from the freshly staged ``staged`` (best effort: a cache that
        cannot be written, or a filesystem that cannot link, only costs the next run)."""
        entry = self.root / key
        if entry.is_dir():
            return
        tmp = self.root / f".tmp-{key[:16]}-{os.getpid()}-{threading.get_ident()}"
        try:
            manifest = _link_in(staged, venv, tmp)
            _write_json(tmp / MANIFEST, manifest)
            os.rename(tmp, entry)  # whole, or not at all (another process was first)
        except (OSError, ValueError):  # ValueError: the venv is not under the tree root
            shutil.rmtree(tmp, ignore_errors=True)


def _offset(venv: Venv, tree_root: Path) -> str:
    """The venv root relative to the tree root (``""`` when they are the same)."""
    rel = venv.root.relative_to(tree_root).as_posix()
    return "" if rel == "." else rel + "/"


def _link_in(staged: StagedWheel, venv: Venv, tmp: Path) -> dict[str, Any]:
    """Link the location-free files of ``staged`` into ``tmp/files``; return the manifest."""
    offset = _offset(venv, staged.tree_root)
    located = {s.rel for s in staged.scripts}
    digests = {rel: (d, n) for rel, d, n in staged.digests}
    files: list[list[Any]] = []
    where = f"{tmp}/files/"
    os.makedirs(where)
    staged_root = f"{staged.staged_root}/"
    for name in staged.files:
        if name in located:
            continue
        if not name.startswith(offset) or name not in digests:
            raise OSError(f"{name} is outside the venv or was not hashed")
        target = f"{where}{len(files)}"
        os.link(staged_root + name, target)
        st = os.lstat(target)
        files.append([name[len(offset) :], *digests[name], st.st_mtime_ns])
    return {
        "format": FORMAT,
        "distribution": staged.distribution,
        "version": staged.version,
        "dist_info": _strip(staged.dist_info, offset),
        "record": _strip(staged.record, offset) if staged.record else None,
        "files": files,
        "not_compiled": [p[len(offset) :] for p in staged.not_compiled],
        "bytecode": [[a[len(offset) :], b[len(offset) :]] for a, b in staged.bytecode],
        "scripts": [
            {
                "rel": s.rel[len(offset) :],
                "executable": s.executable,
                "entry": list(s.entry) if s.entry else None,
                "raw": base64.b64encode(s.raw).decode() if s.raw is not None else None,
                "digest": record_digest(bytes.fromhex(digests[s.rel][0])),  # as RECORD lists it
            }
            for s in staged.scripts
        ],
    }


def _strip(path: Path, offset: str) -> str:
    return path.as_posix()[len(offset) :]


def _read_manifest(entry: Path) -> dict[str, Any] | None:
    try:
        with open(entry / MANIFEST, "rb") as f:
            manifest: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == FORMAT else None


def _intact(entry: Path, manifest: dict[str, Any]) -> bool:
    """Every file still has the size and modification time it had when kept."""
    where = f"{entry}/files/"
    for i, (_, _, size, mtime) in enumerate(manifest["files"]):
        try:
            st = os.lstat(f"{where}{i}")
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def _drop(entry: Path) -> None:
    dead = entry.with_name(f".dead-{entry.name}-{os.getpid()}-{threading.get_ident()}")
    try:
        os.rename(entry, dead)
    except OSError:
        return  # another process dropped it first
    shutil.rmtree(dead, ignore_errors=True)


def _link_out(
    entry: Path,
    manifest: dict[str, Any],
    wheel: Path,
    venv: Venv,
    staged_root: Path,
    tree_root: Path,
    offset: str,
    placed: list[str],
) -> StagedWheel:
    # Strings, not Paths: pathlib costs more than the links here (sympy: 3,100 files).
    where = f"{entry}/files/"
    base = f"{staged_root}/{offset}"
    made: set[str] = set()

    def place(rel: str) -> str:
        target = base + rel
        parent = target.rpartition("/")[0]
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        return target

    record = manifest["record"]
    rewrite = record is not None and bool(manifest["scripts"])
    digests: dict[str, tuple[str, int]] = {}
    record_file = ""
    for i, (rel, digest, size, _) in enumerate(manifest["files"]):
        if rewrite and rel == record:
            record_file = f"{where}{i}"
            continue
        target = place(rel)
        os.link(f"{where}{i}", target)
        placed.append(target)
        digests[offset + rel] = (digest, size)
    renamed: dict[str, tuple[str, int]] = {}  # RECORD's old hash of a script -> new one
    scripts = []
    for raw in manifest["scripts"]:
        script = _script(raw, offset)
        data = script_bytes(script, str(venv.python))
        placed.append(_write_new(place(raw["rel"]), data, script.executable))
        digest = hashlib.sha256(data)
        digests[script.rel] = (digest.hexdigest(), len(data))
        renamed[raw["digest"]] = (record_digest(digest.digest()), len(data))
        scripts.append(script)
    if rewrite:
        with open(record_file, "rb") as f:
            data = _rewrite_record(f.read(), renamed)
        placed.append(_write_new(place(record), data, False))
        digests[offset + record] = (hashlib.sha256(data).hexdigest(), len(data))
    return StagedWheel(
        wheel=wheel,
        distribution=manifest["distribution"],
        version=manifest["version"],
        staged_root=staged_root,
        tree_root=tree_root,
        dist_info=Path(offset + manifest["dist_info"]),
        files=tuple(sorted(digests, key=path_order)),
        not_compiled=tuple(offset + p for p in manifest["not_compiled"]),
        bytecode=tuple((offset + a, offset + b) for a, b in manifest["bytecode"]),
        digests=tuple(sorted((rel, d, n) for rel, (d, n) in digests.items())),
        scripts=tuple(scripts),
        record=Path(offset + record) if record is not None else None,
    )


def _script(raw: dict[str, Any], offset: str) -> LocatedScript:
    entry = raw["entry"]
    return LocatedScript(
        rel=offset + raw["rel"],
        executable=bool(raw["executable"]),
        entry=(entry[0], entry[1], entry[2], entry[3]) if entry else None,
        raw=base64.b64decode(raw["raw"]) if raw["raw"] is not None else None,
    )


def _rewrite_record(data: bytes, renamed: dict[str, tuple[str, int]]) -> bytes:
    """RECORD with the rows of re-made scripts (found by their old hash) updated."""
    rows = list(csv.reader(io.StringIO(data.decode())))
    for row in rows:
        if len(row) == 3 and row[1].startswith("sha256="):
            new = renamed.get(row[1].removeprefix("sha256="))
            if new is not None:
                row[1], row[2] = f"sha256={new[0]}", str(new[1])
    out = io.StringIO()
    csv.writer(out, delimiter=",", quotechar='"', lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _write_new(target: str, data: bytes, executable: bool) -> str:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777 if executable else 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return target


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(value, f)
