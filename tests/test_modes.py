"""mason.modes: one permission policy for extraction and staged trees."""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mason.extract import extract
from mason.modes import process_umask, sane_mode
from mason.store import PackageMeta, Prefix


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("mode", "is_dir", "umask", "expected"),
    [
        (0o644, False, 0o022, 0o644),
        (0o6755, False, 0o022, 0o755),
        (0o1777, True, 0o022, 0o755),
        (0o444, False, 0o027, 0o640),
        (0o555, True, 0o027, 0o750),
        (0o000, False, 0o000, 0o600),
    ],
)
def test_sane_mode(mode: int, is_dir: bool, umask: int, expected: int) -> None:
    assert sane_mode(mode, is_dir=is_dir, umask=umask) == expected


def test_the_umask_is_read_without_being_changed(umask_027: None) -> None:
    assert process_umask() == 0o027
    assert os.umask(0o027) == 0o027, "still the mask it was"


def _tar(path: Path) -> Path:
    with tarfile.open(path, "w") as tf:
        members = [("pkg/", tarfile.DIRTYPE, 0o1777), ("pkg/tool", tarfile.REGTYPE, 0o4777)]
        for name, kind, mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            tf.addfile(info)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_extraction_and_staging_give_the_same_modes(tmp_path: Path, umask_027: None) -> None:
    top = extract(_tar(tmp_path / "pkg.tar"), tmp_path / "src")
    prefix = Prefix(tmp_path / "prefix")
    staged = prefix.staging_dir("pkg")
    (staged / "pkg").mkdir()
    (staged / "pkg/tool").touch()
    os.chmod(staged / "pkg/tool", 0o4777)
    os.chmod(staged / "pkg", 0o1777)
    prefix.merge(prefix.scan(staged, "pkg"), PackageMeta("pkg", "1"))
    merged = tmp_path / "prefix/pkg"
    assert (_mode(top), _mode(top / "tool")) == (_mode(merged), _mode(merged / "tool"))
    assert _mode(merged) == _mode(merged / "tool") == 0o750
