"""Signing artifacts with ssh keys (``ssh-keygen -Y sign`` / ``-Y verify``, OpenSSH 8.1+).

What is signed is the manifest digest (``sha256:...`` as text), in the namespace
``mason-cache``. The manifest names the config by digest and the config holds the key
and the file list, so the signature covers everything; a swapped artifact (a validly
signed one served under another package's tag) is caught by the key check of the pull,
not here. The signature is stored in the registry under the tag
``sha256-<hex>.sig`` (cosign's convention) as a one-layer OCI manifest.
Trusted keys are ssh public key files (``[cache] trusted_keys``); any of them may sign.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mason.binarycache.errors import SigningFailed

NAMESPACE = "mason-cache"
PRINCIPAL = "mason"
SIGNATURE_TYPE = "application/vnd.mason.ssh-signature.v1"


def signature_tag(digest: str) -> str:
    """The tag the signature of manifest ``digest`` is stored under."""
    return digest.replace(":", "-") + ".sig"


def _ssh_keygen() -> str:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise SigningFailed("ssh-keygen is not installed (Debian: openssh-client)")
    return exe


def sign(key: Path, digest: str) -> bytes:
    """An ssh signature of ``digest`` with the private key file ``key``."""
    done = subprocess.run(
        [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE],
        input=digest.encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0 or b"BEGIN SSH SIGNATURE" not in done.stdout:
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise SigningFailed(f"cannot sign with {key}: {why}")
    return done.stdout


def verify(signature: bytes, digest: str, trusted: Sequence[Path]) -> str | None:
    """None when ``signature`` is a good signature of ``digest`` by one of the ``trusted``
    public keys; else why not (one line)."""
    if not trusted:
        return "no trusted keys are configured ([cache] trusted_keys)"
    with tempfile.TemporaryDirectory(prefix="mason-verify-") as tmp:
        signers = Path(tmp, "allowed_signers")
        lines = []
        for key in trusted:
            try:
                public = key.read_text().strip().splitlines()[0]
            except (OSError, IndexError):
                return f"trusted key {key} cannot be read"
            lines.append(f'{PRINCIPAL} namespaces="{NAMESPACE}" {public}')
        signers.write_text("\n".join(lines) + "\n")
        sig = Path(tmp, "signature")
        sig.write_bytes(signature)
        done = subprocess.run(
            [
                _ssh_keygen(),
                "-Y",
                "verify",
                "-f",
                str(signers),
                "-I",
                PRINCIPAL,
                "-n",
                NAMESPACE,
                "-s",
                str(sig),
            ],
            input=digest.encode(),
            capture_output=True,
            check=False,
        )
    if done.returncode == 0:
        return None
    why = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return f"bad signature ({why[-1] if why else 'ssh-keygen -Y verify failed'})"
