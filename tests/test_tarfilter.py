"""The tar data filter on every Python 3.11: Debian 12's own python3 (3.11.2) has none.

mason's extraction once used ``tarfile.data_filter`` and ``extract(filter="data")``,
added in Python 3.11.4, so on Debian's python3 every source tarball failed with an
internal error. Two checks: the rules written out for old interpreters agree with
tarfile's filter member by member, and the whole extraction test file passes under the
distribution's ``/usr/bin/python3`` when that is another interpreter than this one.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO
from mason import tarfilter

DISTRO_PYTHON = Path("/usr/bin/python3")


def member(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.uid, info.gid, info.uname, info.gname = 1234, 5678, "someone", "somegroup"
    return info


MEMBERS = [
    member("pkg/file"),
    member("/pkg/rooted"),
    member("pkg/../../escape"),
    member("pkg/setuid", mode=0o6755),
    member("pkg/group-writable", mode=0o666),
    member("pkg/not-executable-by-owner", mode=0o055),
    member("pkg/readonly", mode=0o400),
    member("pkg/dir", tarfile.DIRTYPE, mode=0o1777),
    member("pkg/link", tarfile.SYMTYPE, link="file"),
    member("pkg/link-up", tarfile.SYMTYPE, link="../pkg/file"),
    member("pkg/link-out", tarfile.SYMTYPE, link="../../outside"),
    member("pkg/link-abs", tarfile.SYMTYPE, link="/etc/passwd"),
    member("pkg/hard", tarfile.LNKTYPE, link="pkg/file"),
    member("pkg/hard-out", tarfile.LNKTYPE, link="../outside"),
    member("pkg/dev", tarfile.CHRTYPE),
    member("pkg/fifo", tarfile.FIFOTYPE),
]


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="this Python has no data_filter")
@pytest.mark.parametrize("info", MEMBERS, ids=lambda i: i.name)
def test_the_written_out_rules_agree_with_tarfiles_filter(
    tmp_path: Path, info: tarfile.TarInfo
) -> None:
    dest = str(tmp_path)
    try:
        expected: tarfile.TarInfo | None = tarfile.data_filter(info, dest)
    except tarfile.FilterError:
        expected = None
    try:
        got: tarfile.TarInfo | None = tarfilter._written_out(info, dest)
    except tarfilter.Refused:
        got = None
    if expected is None or got is None:
        assert expected is got, f"tarfile: {expected}, written out: {got}"
        return
    assert got.name == expected.name
    # tarfile leaves a directory's or a link's mode to the default (None): not applied
    assert got.mode == expected.mode or (expected.mode is None and not info.isreg())
    assert (got.uid, got.gid) == (os.getuid(), os.getgid())
    assert info.uid == 1234, "the member itself is left as it was"


@pytest.mark.parametrize("info", [m for m in MEMBERS if "out" in m.name or "abs" in m.name])
def test_refusals_name_the_member(tmp_path: Path, info: tarfile.TarInfo) -> None:
    with pytest.raises(tarfilter.Refused, match="pkg/"):
        tarfilter.checked(info, str(tmp_path))


def _other_python() -> Path | None:
    if not DISTRO_PYTHON.exists():
        return None
    if os.path.realpath(DISTRO_PYTHON) == os.path.realpath(sys.executable):
        return None
    return DISTRO_PYTHON


def test_the_extraction_tests_pass_under_the_distributions_python3() -> None:
    python = _other_python()
    if python is None:
        pytest.skip(f"{DISTRO_PYTHON} is missing or is the interpreter running the tests")
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
        capture_output=True,
        text=True,
    )
    if version.stdout.strip() != "True":
        pytest.skip(f"{DISTRO_PYTHON} is older than 3.11, which mason does not support")
    # pytest and mason's dependencies from this interpreter (pure Python, same minor)
    path = os.pathsep.join([str(REPO / "src"), str(REPO / "tests"), *site.getsitepackages()])
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_extract.py"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
