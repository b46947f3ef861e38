"""Push and pull against a REAL registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mason.binarycache import (
    ArtifactRefused,
    CacheClient,
    CacheSettings,
    LocalStore,
    NotInCache,
    RegistryError,
    make_artifact,
    parse_url,
)
from mason.binarycache.key import CacheKey, canonical
from mason.binarycache.oci import Registry
from ociregistry import (
    RunningRegistry,
    flaky_proxy,
    redirector,
    running_registry,
    skopeo_inspect,
    token_server,
)

PLATFORM = {"machine": "x86_64", "os": "debian 12", "libc": "glibc 2.36", "compiler": "cc"}


def _key(name: str, platform: dict[str, str] = PLATFORM, recipe: str = "r1") -> CacheKey:
    doc: dict[str, Any] = {"format": 1, "name": name, "version": "1.0", "recipe": recipe}
    doc["platform"] = platform
    return CacheKey(name, "1.0", hashlib.sha256(canonical(doc)).hexdigest(), doc)


def _staged(root: Path, prefix: Path, text: str = "hello") -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text(f"#!/bin/sh\nexec {prefix}/bin/real {text}\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "share").mkdir()
    (root / "share" / "data.txt").write_text(text * 100)
    (root / "share" / "tool").symlink_to(prefix / "bin" / "tool")
    return root


def _client(url: str, cache: Path, **settings: Any) -> CacheClient:
    return CacheClient(CacheSettings(parse_url(url), **settings), LocalStore(cache))


def _built(tmp_path: Path, url: str, name: str = "tool", **kw: Any) -> tuple[CacheClient, CacheKey]:
    """An artifact of ``name`` made in cache A, and a client of cache A."""
    key = _key(name, **kw)
    prefix = tmp_path / "prefix-a"
    staged = _staged(tmp_path / f"staged-{name}-{key.key[:6]}", prefix, text=name)
    client = _client(url, tmp_path / "cache-a")
    make_artifact(client.store, staged, prefix, key)
    return client, key


def _pull(tmp_path: Path, url: str, key: CacheKey, dest: str = "tree", **kw: Any) -> Path:
    client = _client(url, tmp_path / "cache-b", **kw)
    artifact = client.fetch(key)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    client.unpack(key, artifact, work / dest, tmp_path / "b", work)
    return work / dest


def test_push_then_pull_into_another_prefix(tmp_path: Path, registry: RunningRegistry) -> None:
    client, key = _built(tmp_path, registry.url())
    first = client.push(key.tag)
    assert first.blobs == 2  # the layer and the config
    assert client.push(key.tag).blobs == 0  # HEAD first: nothing sent again
    tree = _pull(tmp_path, registry.url(), key)
    assert (tree / "bin" / "tool").read_text() == f"#!/bin/sh\nexec {tmp_path}/b/bin/real tool\n"
    assert (tree / "share" / "tool").readlink() == Path("../bin/tool")
    assert (tree / "bin" / "tool").stat().st_mode & 0o777 == 0o755


def test_the_layer_is_deterministic(tmp_path: Path, registry: RunningRegistry) -> None:
    prefix = tmp_path / "p"
    key = _key("tool")
    store = LocalStore(tmp_path / "cache")
    one = make_artifact(store, _staged(tmp_path / "s1", prefix), prefix, key)
    two = make_artifact(store, _staged(tmp_path / "s2", prefix), prefix, key)
    assert one.tree.digest == two.tree.digest and one.digest == two.digest


def test_skopeo_reads_what_mason_pushed(tmp_path: Path, registry: RunningRegistry) -> None:
    client, key = _built(tmp_path, registry.url())
    result = client.push(key.tag)
    seen = skopeo_inspect(registry, registry.repository, key.tag)
    assert seen["Digest"] == result.digest
    assert seen["Labels"] == {"dev.mason.key": key.key, "dev.mason.package": "tool-1.0"}


def test_ls_lists_the_tags(tmp_path: Path, registry: RunningRegistry) -> None:
    client, key = _built(tmp_path, registry.url())
    client.push(key.tag)
    assert Registry(parse_url(registry.url())).tags() == [key.tag]


def test_a_missing_artifact_is_not_in_cache(tmp_path: Path, registry: RunningRegistry) -> None:
    with pytest.raises(NotInCache):
        _pull(tmp_path, registry.url(), _key("absent"))


def test_a_tampered_blob_is_refused(tmp_path: Path, registry: RunningRegistry) -> None:
    client, key = _built(tmp_path, registry.url())
    client.push(key.tag)
    artifact = client.lookup(key)
    blob = registry.blob_file(artifact.tree.digest)
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactRefused, match="tampered layer"):
        _pull(tmp_path, registry.url(), key)
    assert not (tmp_path / "work").exists()
    assert not LocalStore(tmp_path / "cache-b").has_blob(artifact.tree.digest)


def test_a_swapped_tag_is_refused(tmp_path: Path, registry: RunningRegistry) -> None:
    client, wanted = _built(tmp_path, registry.url(), "tool")
    other, other_key = _built(tmp_path, registry.url(), "other")
    other.push(other_key.tag)
    # a valid artifact of another package, served under tool's tag
    manifest = other.store.read_bytes(str(other.store.tag(other_key.tag)))
    client.registry.put_manifest(wanted.tag, manifest)
    with pytest.raises(
        ArtifactRefused, match=r"holds another package \(other-1.0\): a swapped tag"
    ):
        _pull(tmp_path, registry.url(), wanted)


def test_an_artifact_for_another_platform_is_refused(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    arm = {**PLATFORM, "machine": "aarch64"}
    other, arm_key = _built(tmp_path, registry.url(), "tool", platform=arm)
    other.push(arm_key.tag)
    here = _key("tool")
    manifest = other.store.read_bytes(str(other.store.tag(arm_key.tag)))
    other.registry.put_manifest(here.tag, manifest)  # uploaded under the wrong key
    with pytest.raises(ArtifactRefused, match='another platform: machine: "aarch64" -> "x86_64"'):
        _pull(tmp_path, registry.url(), here)


def _ssh_key(path: Path) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (Debian: openssh-client)")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True
    )
    return path


def test_a_signed_artifact_is_accepted(tmp_path: Path, registry: RunningRegistry) -> None:
    key_file = _ssh_key(tmp_path / "ci")
    client, key = _built(tmp_path, registry.url())
    assert client.push(key.tag, key_file=key_file).signed
    trusted = (tmp_path / "ci.pub",)
    tree = _pull(tmp_path, registry.url(), key, require_signature=True, trusted_keys=trusted)
    assert (tree / "share" / "data.txt").is_file()


def test_a_wrong_signature_is_refused(tmp_path: Path, registry: RunningRegistry) -> None:
    signer, other = _ssh_key(tmp_path / "ci"), _ssh_key(tmp_path / "other")
    client, key = _built(tmp_path, registry.url())
    client.push(key.tag, key_file=signer)
    trusted = (other.with_suffix(".pub"),)
    with pytest.raises(ArtifactRefused, match="bad signature"):
        _pull(tmp_path, registry.url(), key, require_signature=True, trusted_keys=trusted)


def test_an_unsigned_artifact_is_refused_when_signatures_are_required(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    trusted = (_ssh_key(tmp_path / "ci").with_suffix(".pub"),)
    client, key = _built(tmp_path, registry.url())
    client.push(key.tag)
    with pytest.raises(ArtifactRefused, match="unsigned"):
        _pull(tmp_path, registry.url(), key, require_signature=True, trusted_keys=trusted)


def test_a_registry_wanting_a_bearer_token(tmp_path: Path) -> None:
    with (
        token_server() as tokens,
        running_registry(tmp_path / "registry", realm=tokens.url) as registry,
    ):
        client, key = _built(tmp_path, registry.url())
        client.push(key.tag)
        tree = _pull(tmp_path, registry.url(), key)
        assert (tree / "bin" / "tool").is_file()
        push = "scope=repository%3Amason%2Fcache%3Apull+repository%3Amason%2Fcache%3Apush"
        assert any(push in r and "service=mason-test" in r for r in tokens.requests)
        anonymous = http.client.HTTPConnection("127.0.0.1", registry.port)
        anonymous.request("GET", f"/v2/mason/cache/manifests/{key.tag}")
        status = anonymous.getresponse().status
        anonymous.close()
        assert status == 401  # the token was needed


def test_docker_config_credentials_go_to_the_token_realm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    with (
        token_server() as tokens,
        running_registry(tmp_path / "registry", realm=tokens.url) as registry,
    ):
        auth = base64.b64encode(b"ci:s3cret").decode()
        (config / "config.json").write_text(
            json.dumps({"auths": {registry.netloc: {"auth": auth}}})
        )
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        monkeypatch.delenv("MASON_CACHE_USERNAME", raising=False)
        client, key = _built(tmp_path, registry.url())
        client.push(key.tag)
    assert set(tokens.authorizations) == {f"Basic {auth}"}


def test_authorization_never_follows_a_redirect_to_another_host(
    tmp_path: Path, registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = _built(tmp_path, registry.url())
    client.push(key.tag)
    monkeypatch.setenv("MASON_CACHE_USERNAME", "ci")
    monkeypatch.setenv("MASON_CACHE_PASSWORD", "s3cret")
    with redirector(registry) as front:
        tree = _pull(tmp_path, front.url(), key)
    assert (tree / "bin" / "tool").is_file()
    assert len(front.seen_by_other_host) == 3  # manifest, config, layer
    assert set(front.seen_by_other_host) == {None}


def test_503_then_success_is_retried(tmp_path: Path, registry: RunningRegistry) -> None:
    with flaky_proxy(registry, ["503", "drop", "503"]) as proxy:
        client, key = _built(tmp_path, proxy.url())
        client.registry.backoff = 0.01
        client.push(key.tag)
        assert client.registry.retried == 3
        assert (_pull(tmp_path, proxy.url(), key) / "bin" / "tool").is_file()


def test_a_registry_that_keeps_failing_gives_up(tmp_path: Path, registry: RunningRegistry) -> None:
    with flaky_proxy(registry, ["503"] * 10) as proxy:
        client, key = _built(tmp_path, proxy.url())
        client.registry.backoff = 0.01
        with pytest.raises(RegistryError, match="gave up after 5 attempts"):
            client.push(key.tag)
