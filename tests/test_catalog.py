"""Reading recipes: every file of SPEC section 2, on small catalogs written by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mason.catalog import Catalog, Checksums
from recipefactory import write_recipe


@pytest.fixture
def pkgs(tmp_path: Path) -> Path:
    root = tmp_path / "pkgs"
    root.mkdir()
    return root


def test_version_patch_level_and_checksums(pkgs: Path) -> None:
    write_recipe(
        pkgs,
        "zlib",
        version="1.2.11.p0",
        files={
            "checksums.ini": (
                "# comment\ntarball=zlib-VERSION.tar.gz\nsha1=" + "a" * 40 + "\n"
                "sha256=" + "b" * 64 + "\nmd5=" + "c" * 32 + "\ncksum=123\n"
                "upstream_url=https://example.org/zlib/VERSION/zlib-VERSION.tar.gz\n"
            )
        },
    )
    write_recipe(pkgs, "giac", version="1.9.0.15p0", tarball=True)
    zlib, giac = Catalog.load(pkgs).recipes["zlib"], Catalog.load(pkgs).recipes["giac"]
    assert (zlib.version, zlib.upstream_version, zlib.patch_level) == ("1.2.11.p0", "1.2.11", 0)
    assert zlib.checksums == Checksums(
        tarball="zlib-1.2.11.tar.gz",
        sha256="b" * 64,
        sha1="a" * 40,
        md5="c" * 32,
        cksum="123",
        upstream_url="https://example.org/zlib/1.2.11/zlib-1.2.11.tar.gz",
    )
    # SageMath's rule: only a trailing ".pN" is a patch level
    assert (giac.upstream_version, giac.patch_level) == ("1.9.0.15p0", None)
    assert giac.checksums is not None and giac.checksums.tarball == "giac-1.9.0.15p0.tar.gz"


def test_kinds_and_trees_follow_the_files(pkgs: Path) -> None:
    write_recipe(pkgs, "c_lib", tarball=True)
    write_recipe(pkgs, "wheelpkg", tarball="wheelpkg-VERSION-py3-none-any.whl")
    write_recipe(pkgs, "pippkg", version=None, files={"requirements.txt": "pippkg >=1\n"})
    write_recipe(pkgs, "scripted", version=None, files={"spkg-install.in": "echo hi\n"})
    write_recipe(pkgs, "raw_script", version=None, files={"spkg-install": "#!/bin/sh\n"})
    write_recipe(pkgs, "meta", version=None, deps="c_lib")
    write_recipe(pkgs, "pylib", tarball=True, files={"install-requires.txt": "# c\npylib >=1\n"})
    write_recipe(pkgs, "docs", files={"trees.txt": "SAGE_DOCS\n"})
    write_recipe(pkgs, "python3", tarball=True, files={"trees.txt": "SAGE_VENV\n"})
    recipes = Catalog.load(pkgs).recipes
    kinds = {name: (r.kind, r.tree) for name, r in recipes.items()}
    assert kinds == {
        "c_lib": ("normal", "prefix"),
        "wheelpkg": ("wheel", "venv"),
        "pippkg": ("pip", "venv"),
        "scripted": ("script", "prefix"),
        "raw_script": ("script", "prefix"),
        "meta": ("none", "prefix"),
        "pylib": ("normal", "venv"),
        "docs": ("none", "prefix"),
        "python3": ("normal", "venv"),
    }
    assert recipes["pippkg"].requirements == "pippkg >=1\n"
    assert recipes["pippkg"].version == "none"  # SageMath's version of unversioned packages
    assert recipes["pylib"].python_requirement == "pylib >=1"
    assert recipes["raw_script"].scripts == {"install": pkgs / "raw_script" / "spkg-install"}


def test_dependency_line(pkgs: Path) -> None:
    (pkgs.parent / "variables.ini").write_text(
        "# values of the Makefile variables\n[variables]\nPYTHON = python3\n"
        "TOOLCHAIN = setuptools $(PYTHON)\nBLAS = openblas\n"
    )
    for name in ("python3", "setuptools", "openblas", "gmp", "libnauty", "pytest", "extra"):
        write_recipe(pkgs, name)
    write_recipe(
        pkgs,
        "app",
        deps=(
            "FORCE gmp $(BLAS)  $(SCRIPTS) $(SAGE_ROOT)/src/x.pxd "
            "$(findstring libnauty,$(OPTIONAL_INSTALLED_PACKAGES)) | $(TOOLCHAIN) # comment gmp"
        ),
        files={"dependencies_check": "pytest\n\nnot a package\n", "dependencies_optional": "extra"},
    )
    app = Catalog.load(pkgs).recipes["app"]
    assert app.deps == ("gmp", "openblas")
    assert app.order_only == ("setuptools", "python3")
    assert app.conditional == ("libnauty",)
    assert app.check == ("pytest",)
    assert app.optional == ("extra",)
    assert app.force
    assert app.file_deps == ("$(SCRIPTS)", "$(SAGE_ROOT)/src/x.pxd")


def test_settings_variables_override_variables_ini(pkgs: Path) -> None:
    (pkgs.parent / "variables.ini").write_text("[variables]\nBLAS = openblas\n")
    write_recipe(pkgs, "openblas")
    write_recipe(pkgs, "blis")
    write_recipe(pkgs, "app", deps="$(BLAS)")
    assert Catalog.load(pkgs).recipes["app"].deps == ("openblas",)
    assert Catalog.load(pkgs, {"BLAS": "blis"}).recipes["app"].deps == ("blis",)


def test_sage_root_layout_resolves_file_dependencies(tmp_path: Path) -> None:
    pkgs = tmp_path / "sage" / "build" / "pkgs"
    write_recipe(pkgs, "sagelib", deps="$(SAGE_SRC)/sage/x.pxd pkgs/setup.cfg")
    catalog = Catalog.load(pkgs)
    assert catalog.sage_root == tmp_path / "sage"
    assert catalog.recipes["sagelib"].file_deps == (
        f"{tmp_path}/sage/src/sage/x.pxd",
        f"{tmp_path}/sage/pkgs/setup.cfg",
    )


def test_scripts_patches_summary(pkgs: Path) -> None:
    write_recipe(
        pkgs,
        "foo",
        tarball=True,
        files={
            "spkg-install.in": "sdh_make_install\n",
            "spkg-check.in": "sdh_make check\n",
            "spkg-postrm.in": "true\n",
            "patches/02-b.patch": "b",
            "patches/01-a.patch": "a",
            "patches/README": "not a patch",
            "SPKG.rst": "\nfoo: a library that does foo\n=====\n\nMore text.\n",
        },
    )
    foo = Catalog.load(pkgs).recipes["foo"]
    assert foo.scripts == {
        "install": pkgs / "foo" / "spkg-install.in",
        "check": pkgs / "foo" / "spkg-check.in",
        "postrm": pkgs / "foo" / "spkg-postrm.in",
    }
    assert [p.name for p in foo.patches] == ["01-a.patch", "02-b.patch"]
    assert foo.summary == "foo: a library that does foo"


def test_recipe_hash_tracks_every_file(pkgs: Path) -> None:
    write_recipe(pkgs, "foo", tarball=True, files={"spkg-install.in": "make\n"})
    first = Catalog.load(pkgs).recipes["foo"].recipe_hash
    assert Catalog.load(pkgs).recipes["foo"].recipe_hash == first
    write_recipe(pkgs, "foo", tarball=True, files={"patches/fix.patch": "x"})
    second = Catalog.load(pkgs).recipes["foo"].recipe_hash
    write_recipe(pkgs, "foo", tarball=True, files={"spkg-install.in": "make install\n"})
    third = Catalog.load(pkgs).recipes["foo"].recipe_hash
    assert len({first, second, third}) == 3


def test_hidden_entries_and_plain_files_are_not_recipes(pkgs: Path) -> None:
    write_recipe(pkgs, "foo")
    (pkgs / ".git").mkdir()
    (pkgs / "README.md").write_text("notes\n")
    assert list(Catalog.load(pkgs).recipes) == ["foo"]


def test_type_without_trailing_newline_and_reverse_dependencies(pkgs: Path) -> None:
    write_recipe(pkgs, "a", files={"type": "optional"})
    write_recipe(pkgs, "b", deps="a")
    write_recipe(pkgs, "c", deps="| a", files={"dependencies_check": "b"})
    catalog = Catalog.load(pkgs)
    assert catalog.recipes["a"].type == "optional"
    reverse = catalog.reverse_dependencies("a")
    assert reverse["deps"] == ("b",) and reverse["order_only"] == ("c",)
    assert catalog.reverse_dependencies("b")["check"] == ("c",)
