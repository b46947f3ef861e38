"""The binary cache during one install: which packages come from it, pulls, new artifacts.

``--cache auto`` (the default when a cache is configured) pulls what the registry has and
builds the rest, saying why for each (no artifact with this key, refused, not
relocatable); ``--cache only`` turns each of those into the package's failure;
``--cache never`` ignores the registry. Pulls of all planned packages start at once in a
few threads (:meth:`CacheSession.prefetch`): the registry is asked in parallel, while the
merges still follow the dependency order. Artifacts are made from the staged tree of
every build when a cache is configured or ``--push`` is given (:meth:`keep`), and pushed
right away with ``--push``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mason.binarycache.artifact import Artifact, make_artifact
from mason.binarycache.client import CacheClient, PushResult, unpack
from mason.binarycache.errors import CacheError, NotRelocatable
from mason.binarycache.key import CacheKey
from mason.binarycache.localstore import LocalStore
from mason.binarycache.options import CacheOptions
from mason.binarycache.relocate import check_relocatable

PULL_THREADS = 4


@dataclass(frozen=True)
class Decision:
    """Whether a package comes from the cache; ``reason`` says why it is built instead."""

    name: str
    from_cache: bool
    reason: str
    error: CacheError | None = None


class CacheSession:
    """The cache of one run: ``keys`` are the planned packages' cache keys."""

    def __init__(self, options: CacheOptions, keys: Mapping[str, CacheKey], local: Path) -> None:
        self.options = options
        self.keys = keys
        self.store = LocalStore(local)
        self.client = (
            CacheClient(options.settings, self.store) if options.settings.url is not None else None
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pulls: dict[str, Future[Artifact]] = {}
        self._pushes: dict[str, Future[PushResult]] = {}
        self._lock = threading.Lock()

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching (checked) artifacts for ``names``, in parallel threads."""
        if not self.options.pulls or self.client is None:
            return
        client = self.client
        with self._lock:
            pool = self._threads()
            for name in names:
                if name in self.keys and name not in self._pulls:
                    self._pulls[name] = pool.submit(client.fetch, self.keys[name])

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(PULL_THREADS, thread_name_prefix="mason-cache")
        return self._pool

    def close(self) -> dict[str, PushResult | CacheError]:
        """Wait for the pushes (they run beside the builds); per package, what each did."""
        out: dict[str, PushResult | CacheError] = {}
        for name, future in sorted(self._pushes.items()):
            try:
                out[name] = future.result()
            except CacheError as e:
                out[name] = e
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return out

    def decide(self, name: str, target: Path) -> Decision:
        """From the cache, or built (and why), for ``name`` going to the tree at ``target``."""
        if not self.options.pulls:
            return Decision(name, False, "the cache is not used (--cache never or no URL)")
        self.prefetch([name])
        try:
            artifact = self._pulls[name].result()
        except CacheError as e:
            return Decision(name, False, str(e).splitlines()[0], e)
        info = artifact.info
        refusal = check_relocatable(
            f"{name}-{self.keys[name].version}",
            dict(info.get("relocate") or {}),
            str(info["prefix"]),
            str(target),
        )
        if refusal is not None:
            return Decision(name, False, f"not relocatable: {refusal}", refusal)
        return Decision(name, True, f"from cache {self.keys[name].tag}")

    def pull(self, name: str, dest: Path, target: Path, work: Path) -> Artifact:
        """Extract the fetched artifact of ``name`` into the new directory ``dest``,
        relocated to ``target`` (``work``: a scratch directory); return it."""
        artifact = self._pulls[name].result()
        key = self.keys[name]
        package = f"{key.name}-{key.version}"
        unpack(self.store, package, artifact, dest, target, work)
        return artifact

    def keep(self, name: str, staged: Path, root: Path, build_seconds: float) -> Artifact | None:
        """The artifact of a fresh build (pushed with ``--push``); None when artifacts are
        not made or the package has no key."""
        if not self.options.makes_artifacts or name not in self.keys:
            return None
        key = self.keys[name]
        artifact = make_artifact(self.store, staged, root, key, build_seconds=build_seconds)
        if self.options.push and self.client is not None:
            with self._lock:  # off the build's job slot: the next build starts meanwhile
                self._pushes[name] = self._threads().submit(self.client.push, key.tag)
        return artifact


def plan_decisions(
    options: CacheOptions, keys: Mapping[str, CacheKey], targets: Mapping[str, Path], local: Path
) -> dict[str, Decision]:
    """For ``mason plan``: per package, from the cache or built and why (the registry is
    asked for manifests and configs only; no layer is fetched)."""
    out: dict[str, Decision] = {}
    if not options.pulls or options.settings.url is None:
        return {n: Decision(n, False, "no cache") for n in targets}
    client = CacheClient(options.settings, LocalStore(local))

    def one(name: str) -> Decision:
        key = keys[name]
        try:
            artifact = client.lookup(key)
        except CacheError as e:
            return Decision(name, False, str(e).splitlines()[0], e)
        info = artifact.info
        refusal: NotRelocatable | None = check_relocatable(
            f"{name}-{key.version}",
            dict(info.get("relocate") or {}),
            str(info["prefix"]),
            str(targets[name]),
        )
        if refusal is not None:
            return Decision(name, False, f"not relocatable: {refusal}", refusal)
        return Decision(name, True, f"from cache {key.tag}")

    with ThreadPoolExecutor(PULL_THREADS) as pool:
        for decision in pool.map(one, list(targets)):
            out[decision.name] = decision
    return out
