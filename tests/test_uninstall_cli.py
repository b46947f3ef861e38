"""``mason uninstall`` through the real CLI (SPEC 8): removal scripts, co-owned files,
user-changed files, dependents, Python distributions; ``mason verify`` clean after each."""

from __future__ import annotations

import sys
from pathlib import Path

from installsupport import install, mason, records, script_recipe
from pypackages import pip, run_python, wheel_recipe
from wheelfactory import make_wheel

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"
NAMESPACE_INIT = '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n'

PRERM = (
    '{ echo "prerm $PKG_NAME"; test -f "$SAGE_LOCAL/share/$PKG_BASE/$PKG_BASE.txt" && '
    'echo "files present"; } >> "$SAGE_LOCAL/../removal.txt"\n'
)
POSTRM = (
    '{ echo "postrm $PKG_NAME"; test -e "$SAGE_LOCAL/share/$PKG_BASE" || '
    'echo "files gone"; } >> "$SAGE_LOCAL/../removal.txt"\n'
)


def uninstall(prefix: Path, *args: str) -> tuple[int, str, str]:
    done = mason("uninstall", "--prefix", prefix, *args)
    return done.returncode, done.stdout, done.stderr


def assert_verify_clean(prefix: Path) -> None:
    done = mason("verify", "--prefix", prefix)
    assert done.returncode == 0, done.stdout + done.stderr


def test_removal_scripts_run_around_the_removal(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "tool", extra={"spkg-prerm.in": PRERM, "spkg-postrm.in": POSTRM})
    script_recipe(catalog, "other")
    assert install(catalog, prefix, "tool", "other").returncode == 0
    kept = prefix / "var/lib/mason/scripts/tool"
    assert sorted(p.name for p in kept.iterdir()) == ["spkg-postrm.in", "spkg-prerm.in"]

    code, out, err = uninstall(prefix, "tool")
    assert code == 0, err
    assert "[tool-1.0] uninstalled" in out
    assert (tmp_path / "removal.txt").read_text().splitlines() == [
        "prerm tool-1.0",
        "files present",
        "postrm tool-1.0",
        "files gone",
    ]
    assert not kept.exists()
    assert set(records(prefix)) == {"other"}
    assert not (prefix / "share/tool").exists() and (prefix / "share/other/other.txt").exists()
    log = (prefix / "var/log/mason/tool-1.0.log").read_text()
    assert "=== mason: spkg-postrm of tool-1.0" in log
    assert list((prefix / "var/tmp/mason").iterdir()) == []
    assert_verify_clean(prefix)


def test_failing_prerm_leaves_the_package_installed(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "tool", extra={"spkg-prerm.in": "echo refusing; exit 3\n"})
    assert install(catalog, prefix, "tool").returncode == 0
    code, _, err = uninstall(prefix, "tool")
    assert code == 1
    assert "tool-1.0" in err and "spkg-prerm" in err
    assert set(records(prefix)) == {"tool"}
    assert (prefix / "share/tool/tool.txt").exists()
    assert (prefix / "var/lib/mason/scripts/tool/spkg-prerm.in").exists()
    assert_verify_clean(prefix)


def test_file_changed_by_the_user_survives_with_a_warning(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    body = (
        'd="$SAGE_DESTDIR$SAGE_LOCAL"; mkdir -p "$d/etc" "$d/share/tool"\n'
        'echo default > "$d/etc/tool.conf"; echo data > "$d/share/tool/data.txt"\n'
    )
    script_recipe(catalog, "tool", body=body)
    assert install(catalog, prefix, "tool").returncode == 0
    (prefix / "etc/tool.conf").write_text("edited by the user\n")

    code, _, err = uninstall(prefix, "tool")
    assert code == 0, err
    assert "warning" in err and "etc/tool.conf" in err and "tool-1.0" in err
    assert "data.txt" not in err
    assert (prefix / "etc/tool.conf").read_text() == "edited by the user\n"
    assert not (prefix / "share/tool").exists()
    assert records(prefix) == {}
    done = mason("verify", "--prefix", prefix)  # the kept file is nobody's now
    assert done.returncode == 1 and "etc/tool.conf" in done.stdout + done.stderr


def test_dependents_refuse_unless_forced(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "lib")
    script_recipe(catalog, "app", deps="lib")
    script_recipe(catalog, "top", deps="app")
    script_recipe(catalog, "tool", deps="| lib")  # order-only: not recorded, not a user
    assert install(catalog, prefix, "top", "tool").returncode == 0

    code, out, err = uninstall(prefix, "lib")
    assert code == 2
    assert "lib: needed by installed package(s) app" in err and "tool" not in err
    assert set(records(prefix)) == {"lib", "app", "top", "tool"}
    assert (prefix / "share/lib/lib.txt").exists()

    code, out, err = uninstall(prefix, "lib", "app")  # top still needs app
    assert code == 2 and "app: needed by installed package(s) top" in err
    assert set(records(prefix)) == {"lib", "app", "top", "tool"}

    code, out, err = uninstall(prefix, "missing", "lib", "nothere")
    assert code == 2 and "missing, nothere: not installed" in err

    # naming the dependents too removes them first, no --force needed
    code, out, err = uninstall(prefix, "lib", "app", "top")
    assert code == 0, err
    order = [line.split("]")[0][1:] for line in out.splitlines()]
    assert order == ["top-1.0", "app-1.0", "lib-1.0"]
    assert set(records(prefix)) == {"tool"}
    assert_verify_clean(prefix)


def test_force_removes_a_needed_package(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "lib")
    script_recipe(catalog, "app", deps="lib")
    assert install(catalog, prefix, "app").returncode == 0
    code, _, err = uninstall(prefix, "lib", "--force")
    assert code == 0, err
    assert set(records(prefix)) == {"app"}
    assert not (prefix / "share/lib").exists()
    assert_verify_clean(prefix)


def _backports_wheels(tmp_path: Path, catalog: Path) -> None:
    for dist, module in (("bp_one", "one"), ("bp_two", "two")):
        files = {
            "backports/__init__.py": f"# namespace of {dist}\n{NAMESPACE_INIT}",
            f"backports/{module}.py": f"NAME = {module!r}\n",
        }
        wheel = make_wheel(tmp_path / "wheels", dist, "1.0", files)
        wheel_recipe(catalog, dist, wheel)


def pip_names(prefix: Path) -> set[str]:
    done = pip(prefix, "list", "--format=freeze")
    assert done.returncode == 0, done.stderr
    return {line.split("==")[0].lower().replace("-", "_") for line in done.stdout.split()}


def test_co_owned_namespace_stays_until_its_last_owner_goes(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    _backports_wheels(tmp_path, catalog)
    done = install(catalog, prefix, "bp_one", "bp_two")
    assert done.returncode == 0, done.stderr
    backports = prefix / SITE / "backports"
    assert {"bp_one", "bp_two"} <= pip_names(prefix)
    assert any((backports / "__pycache__").glob("__init__.*.pyc"))

    code, _, err = uninstall(prefix, "bp_one")
    assert code == 0, err
    assert (backports / "__init__.py").exists()
    assert not (backports / "one.py").exists() and (backports / "two.py").exists()
    assert "bp_one" not in pip_names(prefix) and "bp_two" in pip_names(prefix)
    check = run_python(prefix, "import backports.two as t; print(t.NAME)")
    assert check.stdout.strip() == "two", check.stderr
    assert_verify_clean(prefix)

    code, _, err = uninstall(prefix, "bp_two")
    assert code == 0, err
    assert not backports.exists()  # __init__.py, __pycache__ and the directory
    assert not {"bp_one", "bp_two"} & pip_names(prefix)
    assert not list((prefix / SITE).glob("bp_*"))
    assert_verify_clean(prefix)


def test_an_upgrade_drops_the_old_versions_removal_scripts(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "tool", extra={"spkg-prerm.in": PRERM, "spkg-postrm.in": POSTRM})
    assert install(catalog, prefix, "tool").returncode == 0
    kept = prefix / "var/lib/mason/scripts/tool"
    assert kept.is_dir()
    (catalog / "tool/spkg-prerm.in").unlink()
    (catalog / "tool/spkg-postrm.in").unlink()
    (catalog / "tool/package-version.txt").write_text("2.0\n")
    assert install(catalog, prefix, "tool").returncode == 0
    assert not kept.exists()
    code, _, err = uninstall(prefix, "tool")
    assert code == 0, err
    assert not (tmp_path / "removal.txt").exists()  # the 1.0 scripts did not run
    assert_verify_clean(prefix)
