"""Artifacts: one OCI image manifest per package build, made from its STAGED tree.

An artifact is, in OCI terms (readable by ``skopeo inspect`` and any registry):

* a config blob (``application/vnd.oci.image.config.v1+json``): a valid image config
  (``os``, ``architecture``, ``rootfs.diff_ids``, labels naming the package) with mason's
  own table under ``"mason"`` (:class:`ArtifactInfo`): the key and its inputs, the prefix
  it was built for, every entry of the tree with its type, mode, size and sha256, the
  files that need relocating and how;
* one layer (``application/vnd.oci.image.layer.v1.tar+gzip``): a deterministic tar of the
  staged tree relative to the prefix (entries sorted, uid/gid 0, no owner names, mtime 0,
  gzip header without name or time), so the same tree always gives the same digest;
  The wheels a package stored are files of that tree (its wheel store), so they travel
  in it.

Compiled byte-code (``*.pyc``) is never put in: it is compiled again after the pull.
Absolute symlinks into the prefix are made relative (:func:`~.relocate.relative_link`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from mason.binarycache.key import CacheKey, canonical
from mason.binarycache.localstore import LocalStore, sha256_digest
from mason.binarycache.platform import oci_platform
from mason.binarycache.relocate import Method, classify, relative_link

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
TITLE = "org.opencontainers.image.title"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    title: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.title is not None:
            out["annotations"] = {TITLE: self.title}
        return out


@dataclass(frozen=True)
class Artifact:
    """A manifest, its digest, and mason's table from the config."""

    digest: str
    manifest: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]
    info: dict[str, Any]

    @property
    def tree(self) -> Descriptor:
        return self.layers[0]


def _is_bytecode(rel: str) -> bool:
    """A ``__pycache__`` directory, or anything in one."""
    return "__pycache__" in rel.split("/")


def _walk(root: Path) -> Iterator[str]:
    """Every entry below ``root`` as a POSIX path relative to it."""
    for top, dirs, names in os.walk(root):
        rel_top = os.path.relpath(top, root)
        for name in dirs + names:
            yield name if rel_top == "." else f"{rel_top}/{name}".replace(os.sep, "/")


class _TreeWriter:
    """Writes the deterministic tar of a staged tree and collects the entries' facts."""

    def __init__(self, staged: Path, prefix: str) -> None:
        self.staged = staged
        self.prefix = prefix
        self.files: dict[str, dict[str, Any]] = {}
        self.relocations: dict[str, Method] = {}
        self.bytecode: list[str] = []  # the .pyc files left out (compiled again on pull)

    def write(self, out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(_walk(self.staged)):
                if rel.endswith(".pyc"):
                    self.bytecode.append(rel)
                elif not _is_bytecode(rel):
                    self._add(tar, rel)

    def _info(self, rel: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.type = kind
        info.mode = mode
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _add(self, tar: tarfile.TarFile, rel: str) -> None:
        path = self.staged / rel
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            target = relative_link(os.readlink(path), rel, self.prefix)
            info = self._info(rel, tarfile.SYMTYPE, 0o777)
            info.linkname = target
            tar.addfile(info)
            self.files[rel] = {"type": "symlink", "target": target}
        elif stat.S_ISDIR(st.st_mode):
            tar.addfile(self._info(rel, tarfile.DIRTYPE, mode))
            self.files[rel] = {"type": "dir", "mode": f"{mode:o}"}
        elif stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
            info = self._info(rel, tarfile.REGTYPE, mode)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            digest = hashlib.sha256(data).hexdigest()
            self.files[rel] = {
                "type": "file",
                "mode": f"{mode:o}",
                "size": len(data),
                "sha256": digest,
            }
            method = classify(path, data, self.prefix.encode())
            if method is not None:
                self.relocations[rel] = method


class _Hashing(io.RawIOBase):
    """A writable stream that hashes and counts what passes through to ``sink``."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self.sha.update(view)
        self.size += len(view)
        self.sink.write(view)
        return len(view)


def _write_layer(store: LocalStore, writer: _TreeWriter) -> tuple[Descriptor, str]:
    """The gzip'd tar as a blob; its descriptor and the uncompressed tar's digest."""
    fd, tmp = store.new_blob()
    with os.fdopen(fd, "wb") as raw:
        compressed = _Hashing(cast(BinaryIO, raw))
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=cast(BinaryIO, compressed), mtime=0
        ) as gz:
            plain = _Hashing(cast(BinaryIO, gz))
            writer.write(cast(BinaryIO, plain))
    digest = "sha256:" + compressed.sha.hexdigest()
    store.commit_blob(tmp, digest)
    return Descriptor(LAYER_TYPE, digest, compressed.size), "sha256:" + plain.sha.hexdigest()


def make_artifact(
    store: LocalStore,
    staged: Path,
    prefix: Path,
    key: CacheKey,
    *,
    build_seconds: float = 0.0,
) -> Artifact:
    """The artifact of the staged tree ``staged`` (paths relative to ``prefix``, the root
    of the package's tree), stored in ``store`` and tagged there with ``key.tag``."""
    writer = _TreeWriter(staged, str(prefix))
    layer, diff_id = _write_layer(store, writer)
    layers = (layer,)
    info: dict[str, Any] = {
        "format": key.document["format"],
        "name": key.name,
        "version": key.version,
        "key": key.key,
        "inputs": dict(key.document),
        "prefix": str(prefix),
        "files": writer.files,
        "relocate": dict(sorted(writer.relocations.items())),
        "bytecode": writer.bytecode,
        "build_seconds": round(build_seconds, 3),
    }
    os_name, arch = oci_platform()
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {
            "Labels": {"dev.mason.package": f"{key.name}-{key.version}", "dev.mason.key": key.key}
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "mason": info,
    }
    config_bytes = canonical(config)
    config_desc = Descriptor(CONFIG_TYPE, store.put_bytes(config_bytes), len(config_bytes))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_desc.to_json(),
        "layers": [d.to_json() for d in layers],
        "annotations": {TITLE: f"{key.name}-{key.version}", "dev.mason.key": key.key},
    }
    manifest_bytes = canonical(manifest)
    digest = store.put_bytes(manifest_bytes)
    store.set_tag(key.tag, digest)
    return Artifact(digest, manifest_bytes, config_desc, layers, info)


def parse_manifest(data: bytes) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """The config and layer descriptors of a mason manifest; ValueError if it is not one."""
    doc = json.loads(data)
    if doc.get("schemaVersion") != 2 or doc.get("mediaType", MANIFEST_TYPE) != MANIFEST_TYPE:
        raise ValueError("not an OCI image manifest")

    def descriptor(d: Any) -> Descriptor:
        title = (d.get("annotations") or {}).get(TITLE)
        return Descriptor(str(d["mediaType"]), str(d["digest"]), int(d["size"]), title)

    layers = tuple(descriptor(d) for d in doc["layers"])
    if not layers or layers[0].media_type != LAYER_TYPE:
        raise ValueError("its first layer is not a gzip'd tar")
    return descriptor(doc["config"]), layers


def load_artifact(manifest: bytes, config: bytes) -> Artifact:
    """An :class:`Artifact` from a manifest and its config blob (both already checked
    against their digests); ValueError when they are not a mason artifact."""
    config_desc, layers = parse_manifest(manifest)
    if sha256_digest(config) != config_desc.digest:
        raise ValueError("the config does not have the manifest's digest")
    info = json.loads(config).get("mason")
    if not isinstance(info, dict) or not isinstance(info.get("key"), str):
        raise ValueError("the config has no mason table")
    return Artifact(sha256_digest(manifest), manifest, config_desc, layers, info)
