"""A merge meeting a full disk at every point it can (issue 16.1), on a real small tmpfs.

An upgrade and a first install are merged with the filesystem filled so that only k
inodes (then only k bytes) are free, for every k from 0 until the merge succeeds. Each
failure must be :class:`DiskFull` naming the mount point, leave the package fully its old
version (or absent), every invariant of the store holding (the crash tests' check), and
no temporary file; after space is freed the same merge succeeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mason.errors import DiskFull
from mason.store import PackageMeta, Prefix
from smallfs import fill, small_fs, unfill
from storesupport import make_tree
from test_store_crash import base_prefix, check_invariants, fresh_copy, new_version, reference

EXTRA = 30  # files per directory of the new version: records and claims of some size


def no_temporaries(root: Path) -> None:
    state = root / "var/lib/mason"
    for d in ("journal", "txn", "installed"):
        leftovers = [n for n in os.listdir(state / d) if n.startswith(".")]
        assert leftovers == [] and (d == "installed" or os.listdir(state / d) == []), d


def sweep(tmp_path: Path, mount: Path, upgrade: bool, resource: str) -> dict[str, int]:
    """Merge pkga 2 with 0, 1, 2, ... units of ``resource`` free; the stages that failed."""
    expected = reference(tmp_path, EXTRA, upgrade)
    template = tmp_path / "template"
    base_prefix(template, EXTRA, upgrade)
    root = mount / "p"
    stages: dict[str, int] = {}
    step = 1 if resource == "inodes" else 4096
    for k in range(0, 1000 * step, step):
        fresh_copy(template, root)
        p = Prefix(root)
        tree = p.scan(make_tree(p.staging_dir("pkga"), new_version(EXTRA)), "pkga")
        fill(mount, **{f"leave_{resource}": k})
        try:
            p.merge(tree, PackageMeta("pkga", "2"))
        except DiskFull as e:
            assert e.mount == mount, e
            assert str(e).startswith(f"disk full while {e.what}: no space left on the")
            stage = e.what.split(" pkga")[0].split(" of")[0]
            stages[stage] = stages.get(stage, 0) + 1
            unfill(mount)
            no_temporaries(root)
            assert check_invariants(root, expected) == ("pkga-1" if upgrade else "absent")
            p.merge(tree, PackageMeta("pkga", "2"))  # space freed: the same merge works
            assert check_invariants(root, expected) == "pkga-2"
            continue
        finally:
            p.close()
            unfill(mount)
        no_temporaries(root)
        assert check_invariants(root, expected) == "pkga-2"
        stages["succeeded"] = k
        return stages
    raise AssertionError("the merge never succeeded")


@pytest.mark.parametrize(
    "upgrade",
    [True, pytest.param(False, marks=pytest.mark.slow)],
    ids=["upgrade", "first-install"],
)
@pytest.mark.parametrize("resource", ["inodes", pytest.param("bytes", marks=pytest.mark.slow)])
def test_a_full_disk_at_every_point_of_a_merge(
    tmp_path: Path, upgrade: bool, resource: str
) -> None:
    with small_fs(tmp_path / "fs", size="8m", inodes=2000) as mount:
        stages = sweep(tmp_path, mount, upgrade, resource)
    print(f"disk full at: {stages}")
    assert "succeeded" in stages
    assert len(stages) >= 2, stages


def test_a_staged_tree_copied_onto_a_full_prefix(tmp_path: Path) -> None:
    """A tree staged on another filesystem is copied by the scan: that can fill the disk."""
    staged = make_tree(tmp_path / "elsewhere", {"share/big.bin": bytes(4 << 20), "bin/x": "x"})
    with small_fs(tmp_path / "fs", size="2m") as mount:
        p = Prefix(mount / "p")
        with pytest.raises(DiskFull) as info:
            p.scan(staged, "big")
        p.close()
        assert info.value.mount == mount
        assert info.value.what == "copying the staged tree of big"
        assert os.listdir(mount / "p/var/tmp/mason") == [], "no half copy left"
