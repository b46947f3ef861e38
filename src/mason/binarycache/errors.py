"""The binary cache's errors: bad settings, registry failures, refused artifacts."""

from __future__ import annotations

from mason.errors import BadInput, MasonError


class CacheError(MasonError):
    """Something about the binary cache failed (exit 1)."""


class CacheUrlError(BadInput):
    """A cache URL (``--cache-url``, ``MASON_CACHE_URL``, ``[cache] url``) is unusable."""

    def __init__(self, url: str, why: str) -> None:
        self.url = url
        super().__init__(
            f"cache URL {url!r}: {why}",
            hint="write oci://HOST[:PORT]/REPOSITORY (plain http only for a loopback host)",
        )


class RegistryError(CacheError):
    """The registry answered with an error, or could not be reached after the retries."""

    def __init__(self, what: str, status: int | None, detail: str) -> None:
        self.what = what
        self.status = status
        code = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"registry: {what}: {code}: {detail}")


class NotInCache(CacheError):
    """No artifact with the package's key is in the registry."""

    def __init__(self, package: str, tag: str) -> None:
        self.package = package
        self.tag = tag
        super().__init__(
            f"{package}: no artifact {tag} in the cache",
            hint=f"`mason cache why-miss {package.rsplit('-', 1)[0]}` shows which input differs",
        )


class ArtifactRefused(CacheError):
    """An artifact failed a check (digest, signature, key, platform): it is not used."""

    def __init__(self, package: str, why: str) -> None:
        self.package = package
        self.why = why
        super().__init__(f"{package}: cached artifact refused: {why}")


class NotRelocatable(CacheError):
    """An artifact cannot be relocated to the target prefix (one line says why)."""

    def __init__(self, package: str, path: str, why: str) -> None:
        self.package = package
        self.path = path
        self.why = why
        super().__init__(f"{package}: {path}: {why}")


class SigningFailed(CacheError):
    """``ssh-keygen -Y sign`` failed (no such key, wrong passphrase, ...)."""
