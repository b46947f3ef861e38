"""A client of the OCI distribution API on the standard library's ``http.client``.

What mason needs and no more: HEAD a blob, upload one monolithically (POST then PUT
``?digest=``), PUT and GET a manifest, GET a blob streamed into the local store with its
sha256 checked on the way, list tags. Every request is retried with exponential backoff
on a 5xx or 429 answer and on a dropped connection; a 401 is answered once per request
from its ``WWW-Authenticate`` challenge (:mod:`mason.binarycache.auth`). Redirects are
followed (at most 5), and the Authorization header is never sent to another host than
the registry's. Plain http is refused to anything but a loopback host, redirect targets
and token realms included. One connection per request, so threads may share a client.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mason import __version__
from mason.binarycache.auth import Credentials, find_credentials, parse_challenge
from mason.binarycache.errors import RegistryError
from mason.binarycache.localstore import BadDigest, LocalStore
from mason.binarycache.settings import CacheUrl, is_loopback

MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
USER_AGENT = f"mason/{__version__}"
_CHUNK = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


Body = bytes | Path | None


class Registry:
    """One repository of an OCI registry (``url``)."""

    def __init__(
        self,
        url: CacheUrl,
        *,
        credentials: Credentials | None = None,
        attempts: int = 5,
        backoff: float = 0.2,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.credentials = credentials or find_credentials(url.netloc, url.host)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self._auth: dict[str, str] = {}  # scope -> Authorization header value
        self._lock = threading.Lock()
        self.retried = 0  # how many requests were sent again (5xx, dropped connections)

    # -- the API ---------------------------------------------------------------------------

    def _path(self, tail: str) -> str:
        return f"/v2/{self.url.repository}/{tail}"

    def ping(self) -> None:
        """GET ``/v2/`` (authenticating as a pull would)."""
        self._request("GET", "/v2/", "pull", expect=(200,))

    def has_blob(self, digest: str) -> bool:
        answer = self._request("HEAD", self._path(f"blobs/{digest}"), "pull", expect=(200, 404))
        return answer.status == 200

    def push_blob(self, digest: str, body: bytes | Path, size: int) -> None:
        """Upload one blob in one piece (POST, then PUT with its digest)."""
        start = self._request("POST", self._path("blobs/uploads/"), "push", expect=(202,))
        location = start.headers.get("location")
        if not location:
            raise RegistryError("blob upload", start.status, "no Location in the answer")
        sep = "&" if "?" in location else "?"
        target = f"{location}{sep}digest={urllib.parse.quote(digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._request("PUT", target, "push", body=body, headers=headers, expect=(201,))

    def put_manifest(self, reference: str, data: bytes, media_type: str = MANIFEST_TYPES) -> None:
        headers = {"Content-Type": media_type, "Content-Length": str(len(data))}
        self._request(
            "PUT",
            self._path(f"manifests/{reference}"),
            "push",
            body=data,
            headers=headers,
            expect=(201,),
        )

    def get_manifest(self, reference: str) -> bytes | None:
        """The manifest ``reference`` (tag or digest), or None when there is none; one
        asked for by digest is checked against it."""
        answer = self._request(
            "GET",
            self._path(f"manifests/{reference}"),
            "pull",
            headers={"Accept": MANIFEST_TYPES},
            expect=(200, 404),
        )
        if answer.status == 404:
            return None
        if reference.startswith("sha256:"):
            actual = "sha256:" + hashlib.sha256(answer.body).hexdigest()
            if actual != reference:
                raise BadDigest(f"manifest {reference} from {self.url}", reference, actual)
        return answer.body

    def fetch_blob(self, digest: str, store: LocalStore) -> Path:
        """Blob ``digest`` into ``store`` (already there: nothing sent), its sha256 checked
        while it streams; raise :class:`BadDigest` when the content is not ``digest``."""
        if store.has_blob(digest):
            return store.check_file(digest)
        fd, tmp = store.new_blob()
        with open(fd, "w+b") as sink:
            hasher: list[hashlib._Hash] = []

            def reset() -> BinaryIO:
                sink.seek(0)
                sink.truncate()
                hasher[:] = [hashlib.sha256()]
                return sink

            self._request(
                "GET", self._path(f"blobs/{digest}"), "pull", expect=(200,), sink=(reset, hasher)
            )
        actual = "sha256:" + hasher[0].hexdigest()
        if actual != digest:
            tmp.unlink()
            raise BadDigest(f"blob from {self.url}", digest, actual)
        return store.commit_blob(tmp, digest)

    def tags(self) -> list[str]:
        """Every tag of the repository (none when it does not exist yet)."""
        out: list[str] = []
        path: str | None = self._path("tags/list?n=1000")
        while path:
            answer = self._request("GET", path, "pull", expect=(200, 404))
            if answer.status == 404:
                return out
            out.extend(json.loads(answer.body).get("tags") or [])
            path = _next_link(answer.headers.get("link", ""))
        return sorted(out)

    # -- requests --------------------------------------------------------------------------

    def _scope(self, action: str) -> str:
        actions = "pull" if action == "pull" else "pull,push"
        return f"repository:{self.url.repository}:{actions}"

    def _absolute(self, target: str) -> str:
        if target.startswith(("http://", "https://")):
            return target
        return f"{self.url.scheme}://{self.url.netloc}{target}"

    def _request(
        self,
        method: str,
        target: str,
        action: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...],
        sink: tuple[Callable[[], BinaryIO], list[hashlib._Hash]] | None = None,
    ) -> _Answer:
        scope = self._scope(action)
        url = self._absolute(target)
        answered_challenge = False
        last = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                self.retried += 1
                time.sleep(self.backoff * 2 ** (attempt - 1))
            send = dict(headers or {})
            with self._lock:
                auth = self._auth.get(scope)
            if auth:
                send["Authorization"] = auth
            try:
                answer = self._follow(method, url, send, body, sink)
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if answer.status == 401 and not answered_challenge:
                answered_challenge = True
                self._answer(answer.headers.get("www-authenticate", ""), scope)
                continue
            if answer.status >= 500 or answer.status == 429:
                last = _detail(answer)
                continue
            if answer.status in expect:
                return answer
            raise RegistryError(f"{method} {target}", answer.status, _detail(answer))
        raise RegistryError(
            f"{method} {target}", None, f"gave up after {self.attempts} attempts: {last}"
        )

    def _follow(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        sink: tuple[Callable[[], BinaryIO], list[hashlib._Hash]] | None,
    ) -> _Answer:
        for _ in range(6):
            answer = self._exchange(method, url, headers, body, sink)
            location = answer.headers.get("location")
            if answer.status not in _REDIRECTS or not location or method in ("POST", "PUT"):
                return answer
            nxt = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(nxt).netloc != urllib.parse.urlsplit(url).netloc:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = nxt
        raise RegistryError(f"{method} {url}", None, "too many redirects")

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        sink: tuple[Callable[[], BinaryIO], list[hashlib._Hash]] | None,
    ) -> _Answer:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "http" and not is_loopback(host):
            raise RegistryError(f"{method} {url}", None, "plain http is refused except to loopback")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.netloc, timeout=self.timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            send = {"User-Agent": USER_AGENT, **headers}
            if isinstance(body, Path):
                with body.open("rb") as f:
                    conn.request(method, path, body=f, headers=send)
            else:
                if body is None and method in ("POST", "PUT"):
                    send.setdefault("Content-Length", "0")
                conn.request(method, path, body=body, headers=send)
            resp = conn.getresponse()
            got = {k.lower(): v for k, v in resp.getheaders()}
            if sink is not None and resp.status == 200:
                reset, hasher = sink
                out = reset()
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    hasher[0].update(chunk)
                    out.write(chunk)
                return _Answer(resp.status, got, b"")
            return _Answer(resp.status, got, resp.read() if method != "HEAD" else b"")
        finally:
            conn.close()

    def _answer(self, header: str, scope: str) -> None:
        """Set the Authorization for ``scope`` from the challenge ``header``."""
        challenge = parse_challenge(header)
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise RegistryError("authentication", 401, "the registry wants a user and password")
            with self._lock:
                self._auth[scope] = self.credentials.basic()
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryError("authentication", 401, f"unsupported challenge {header!r}")
        token = self._token(challenge.params, scope)
        with self._lock:
            self._auth[scope] = f"Bearer {token}"

    def _token(self, params: Mapping[str, str], scope: str) -> str:
        url = _token_url(params, scope)
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                answer = self._exchange("GET", url, headers, None, None)
            except (OSError, http.client.HTTPException):
                continue
            if answer.status < 500:
                return _token_of(answer, params["realm"])
        raise RegistryError(f"token from {params['realm']}", None, "no answer")


def _token_url(params: Mapping[str, str], scope: str) -> str:
    """Where to ask for a token (the challenge's realm, scope and service)."""
    query = {"scope": params.get("scope", scope)}
    if "service" in params:
        query["service"] = params["service"]
    return f"{params['realm']}?{urllib.parse.urlencode(query)}"


def _token_of(answer: _Answer, realm: str) -> str:
    """The token a token server's answer holds; else :class:`RegistryError`."""
    if answer.status != 200:
        raise RegistryError(f"token from {realm}", answer.status, _detail(answer))
    doc = json.loads(answer.body)
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str):
        raise RegistryError(f"token from {realm}", 200, "no token in the answer")
    return token


def _detail(answer: _Answer) -> str:
    try:
        errors = json.loads(answer.body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no detail"
    except (ValueError, AttributeError):
        return answer.body[:200].decode(errors="replace") or "no detail"


def _next_link(header: str) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header (tag list pagination)."""
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part:
            return part[part.index("<") + 1 : part.index(">")]
    return None
