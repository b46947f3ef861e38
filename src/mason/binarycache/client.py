"""Pushing local artifacts to the registry, and pulling (checked) artifacts from it.

A pull is refused (:class:`ArtifactRefused`) unless every check passes, in this order:
the manifest's digest, its signature when ``require_signature`` is set, the config's
digest, the config's key equal to the sha256 of its own inputs AND to the key asked for
(a swapped tag, or another platform, fails here, each with its own message), and each
layer's sha256 while it streams into the local store. Only then is the tree extracted,
through mason's safe extractor, into a new directory of the caller's.
"""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mason.binarycache.artifact import (
    CONFIG_TYPE,
    MANIFEST_TYPE,
    Artifact,
    Descriptor,
    load_artifact,
    parse_manifest,
)
from mason.binarycache.errors import ArtifactRefused, CacheError, NotInCache
from mason.binarycache.key import CacheKey, canonical, differences
from mason.binarycache.localstore import BadDigest, LocalStore, sha256_digest
from mason.binarycache.oci import Registry
from mason.binarycache.platform import oci_platform
from mason.binarycache.relocate import Method, check_relocatable, relocate
from mason.binarycache.settings import CacheSettings
from mason.binarycache.trust import SIGNATURE_TYPE, sign, signature_tag, verify


@dataclass(frozen=True)
class PushResult:
    tag: str
    digest: str
    uploaded: int  # bytes sent (blobs the registry already had are not sent)
    blobs: int  # blobs sent
    signed: bool


def _signature_manifest(store: LocalStore, signature: bytes) -> tuple[bytes, list[Descriptor]]:
    os_name, arch = oci_platform()
    config = canonical(
        {"architecture": arch, "os": os_name, "rootfs": {"type": "layers", "diff_ids": []}}
    )
    layer = Descriptor(SIGNATURE_TYPE, store.put_bytes(signature), len(signature))
    conf = Descriptor(CONFIG_TYPE, store.put_bytes(config), len(config))
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": conf.to_json(),
            "layers": [layer.to_json()],
        }
    )
    return manifest, [conf, layer]


class CacheClient:
    """The binary cache of one command: the registry and the user's local store."""

    def __init__(
        self, settings: CacheSettings, store: LocalStore, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        if registry is None:
            assert settings.url is not None, "a cache client needs a URL"
            registry = Registry(settings.url)
        self.registry = registry

    # -- push ------------------------------------------------------------------------------

    def _send_blobs(self, blobs: list[Descriptor]) -> tuple[int, int]:
        sent = count = 0
        for d in blobs:
            if not self.registry.has_blob(d.digest):
                self.registry.push_blob(d.digest, self.store.check_file(d.digest), d.size)
                sent += d.size
                count += 1
        return sent, count

    def push(self, tag: str, *, key_file: Path | None = None) -> PushResult:
        """Send the local artifact ``tag`` (blobs first, the manifest last), signed with
        the ssh private key ``key_file`` when given."""
        digest = self.store.tag(tag)
        if digest is None:
            raise CacheError(
                f"{tag}: no artifact of that build in {self.store.root}",
                hint="artifacts are made by `mason install` when a cache URL is configured "
                "or --push is given",
            )
        manifest = self.store.read_bytes(digest)
        config, layers = parse_manifest(manifest)
        sent, count = self._send_blobs([config, *layers])
        if key_file is not None:
            sig_manifest, blobs = _signature_manifest(self.store, sign(key_file, digest))
            more, extra = self._send_blobs(blobs)
            sent, count = sent + more, count + extra
            self.registry.put_manifest(signature_tag(digest), sig_manifest)
        self.registry.put_manifest(tag, manifest)
        return PushResult(tag, digest, sent, count, key_file is not None)

    # -- pull ------------------------------------------------------------------------------

    def _refuse(self, key: CacheKey, why: str) -> ArtifactRefused:
        return ArtifactRefused(f"{key.name}-{key.version}", why)

    def _config(self, key: CacheKey, manifest: bytes) -> Artifact:
        try:
            config, _ = parse_manifest(manifest)
            path = self.registry.fetch_blob(config.digest, self.store)
            return load_artifact(manifest, path.read_bytes())
        except BadDigest as e:
            raise self._refuse(key, f"tampered config: {e}") from e
        except (ValueError, KeyError, TypeError) as e:
            raise self._refuse(key, f"not a mason artifact: {e}") from e

    def _check_signature(self, key: CacheKey, digest: str) -> None:
        signed = self.registry.get_manifest(signature_tag(digest))
        if signed is None:
            raise self._refuse(key, "unsigned, and [cache] require_signature is set")
        try:
            layer = json.loads(signed)["layers"][0]
            signature = self.registry.fetch_blob(str(layer["digest"]), self.store).read_bytes()
        except (ValueError, KeyError, IndexError, BadDigest) as e:
            raise self._refuse(key, f"unreadable signature: {e}") from e
        why = verify(signature, digest, self.settings.trusted_keys)
        if why is not None:
            raise self._refuse(key, why)

    def _check_key(self, key: CacheKey, info: dict[str, Any]) -> None:
        inputs = info.get("inputs")
        if (
            not isinstance(inputs, dict)
            or hashlib.sha256(canonical(inputs)).hexdigest() != info["key"]
        ):
            raise self._refuse(key, "its key is not the hash of its inputs (tampered config)")
        if info["key"] == key.key:
            return
        if (info.get("name"), info.get("version")) != (key.name, key.version):
            found = f"{info.get('name')}-{info.get('version')}"
            raise self._refuse(
                key, f"the tag {key.tag} holds another package ({found}): a swapped tag"
            )
        if inputs.get("platform") != key.document.get("platform"):
            diff = differences(key.document["platform"], inputs.get("platform") or {})
            raise self._refuse(key, "built for another platform: " + "; ".join(diff))
        diff = differences(key.document, inputs)
        raise self._refuse(key, "its key inputs differ: " + "; ".join(diff[:3]))

    def lookup(self, key: CacheKey) -> Artifact:
        """The checked manifest and config of ``key``'s artifact (no layer fetched yet);
        raise :class:`NotInCache` or :class:`ArtifactRefused`."""
        manifest = self.registry.get_manifest(key.tag)
        if manifest is None:
            raise NotInCache(f"{key.name}-{key.version}", key.tag)
        digest = sha256_digest(manifest)
        if self.settings.require_signature:
            self._check_signature(key, digest)
        artifact = self._config(key, manifest)
        self._check_key(key, artifact.info)
        return artifact

    def fetch(self, key: CacheKey) -> Artifact:
        """:meth:`lookup`, then every layer into the local store (sha256 checked)."""
        artifact = self.lookup(key)
        for layer in artifact.layers:
            try:
                self.registry.fetch_blob(layer.digest, self.store)
            except BadDigest as e:
                raise self._refuse(key, f"tampered layer: {e}") from e
        return artifact

    def unpack(
        self, key: CacheKey, artifact: Artifact, dest: Path, prefix: Path, work: Path
    ) -> None:
        """Extract ``artifact``'s tree into the new directory ``dest``, relocated to
        ``prefix`` and byte-compiled (``work``: a scratch directory)."""
        unpack(self.store, f"{key.name}-{key.version}", artifact, dest, prefix, work)


def unpack(
    store: LocalStore, package: str, artifact: Artifact, dest: Path, prefix: Path, work: Path
) -> None:
    """See :meth:`CacheClient.unpack` (for an artifact whose blobs are in ``store``)."""
    from mason.extract import extract

    info = artifact.info
    relocations: dict[str, Method] = dict(info.get("relocate") or {})
    refusal = check_relocatable(package, relocations, str(info["prefix"]), str(prefix))
    if refusal is not None:
        raise refusal
    try:
        layer = store.check_file(artifact.tree.digest)
    except BadDigest as e:
        raise ArtifactRefused(package, f"tampered layer in the local cache: {e}") from e
    work.mkdir(parents=True, exist_ok=True)
    archive = work / f".{dest.name}.tar.gz"
    _link_or_copy(layer, archive)
    try:
        extract(archive, dest)
    finally:
        archive.unlink()
    pycs = [str(p) for p in info.get("bytecode") or []]
    for rel in [*relocations, *pycs]:
        if not _inside(dest, rel, must_be_file=rel in relocations):
            raise ArtifactRefused(package, f"its config names {rel!r}, not a file of its tree")
    relocate(package, dest, relocations, str(info["prefix"]), str(prefix))
    _compile(dest, pycs)


def _inside(tree: Path, rel: str, *, must_be_file: bool) -> bool:
    """Whether ``rel`` is a plain relative path inside ``tree`` that reaches no symlink
    (an existing regular file when ``must_be_file``): config entries that the pull writes
    to must never lead out of the extracted tree."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    here = tree
    for part in parts:
        here = here / part
        if here.is_symlink():
            return False
    return here.is_file() if must_be_file else True


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _compile(tree: Path, pycs: list[str]) -> None:
    """Compile again the byte-code the build had staged (``dir/__pycache__/m.TAG.pyc``
    from ``dir/m.py``), deterministically (checked hash), named as in the build."""
    for rel in pycs:
        parent, _, name = rel.rpartition("/__pycache__/")
        stem, _, tag = name.removesuffix(".pyc").rpartition(".")
        if tag != sys.implementation.cache_tag:
            continue  # byte-code of another interpreter: imports compile it when needed
        source = f"{parent}/{stem}.py" if parent else f"{stem}.py"
        if not (tree / source).is_file():
            continue
        (tree / rel).parent.mkdir(exist_ok=True)
        try:
            py_compile.compile(
                str(tree / source),
                cfile=str(tree / rel),
                dfile=source,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
            )
        except py_compile.PyCompileError:
            continue
