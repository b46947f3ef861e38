"""mason.build with real bash, make, patch and cc: environment, scripts, helpers, errors."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from httpserver import serve
from mason.build import (
    BLOCKED_PROXY,
    BadFragment,
    BuildSpec,
    PatchFailed,
    ScriptFailed,
    StagedOutsidePrefix,
    WroteIntoPrefix,
    apply_patches,
    check_prefix_untouched,
    copy_recipe,
    log_tail,
    prepare_build_dir,
    run_build,
    run_script,
    snapshot_prefix,
    staged_tree,
)
from mason.build.wheels import build_wheels
from mason.errors import BadInput, MasonError
from mason.jobserver import Jobserver


def recipe(tmp_path: Path, files: dict[str, str], name: str = "pkg") -> BuildSpec:
    """A recipe ``<root>/build/pkgs/<name>`` with ``files`` and a fresh build for it."""
    recipe_dir = tmp_path / "root" / "build" / "pkgs" / name
    recipe_dir.mkdir(parents=True)
    for rel, text in files.items():
        path = recipe_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    build = tmp_path / "work" / "build"
    build.mkdir(parents=True)
    prefix = tmp_path / "local"
    prefix.mkdir(exist_ok=True)
    return BuildSpec(
        name=name,
        version="1.0",
        recipe_dir=recipe_dir,
        prefix=prefix,
        build_dir=build,
        destdir=tmp_path / "work" / "destdir",
        log_path=tmp_path / "logs" / f"{name}-1.0.log",
    )


def build(spec: BuildSpec, check: bool = False) -> list[str]:
    prepare_build_dir(spec)
    return list(run_build(spec, check=check))


def log(spec: BuildSpec) -> str:
    return spec.log_path.read_text()


def read_env(path: Path) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in path.read_text().split("\0") if "=" in item)
    return dict(pairs)


# -- the environment ---------------------------------------------------------------------


def test_scripts_see_the_environment_under_both_names(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": "env -0 > env.out\n"})
    spec = BuildSpec(
        **{**spec.__dict__, "extra_env": {"MAKEFLAGS": "-j3", "SAGE_NUM_THREADS": "3"}}
    )
    build(spec)
    env = read_env(spec.build_dir / "env.out")
    prefix, destdir = str(spec.prefix), str(spec.destdir)
    assert env["PREFIX"] == env["SAGE_LOCAL"] == env["SAGE_INST_LOCAL"] == prefix
    assert env["DESTDIR"] == env["SAGE_DESTDIR"] == destdir
    assert env["SAGE_VENV"] == prefix
    assert env["SAGE_ROOT"] == str(tmp_path / "root")
    assert env["SAGE_SHARE"] == f"{prefix}/share"
    assert env["SAGE_PKG_DIR"] == str(spec.build_dir)
    assert (env["PKG_NAME"], env["PKG_BASE"], env["PKG_VER"]) == ("pkg-1.0", "pkg", "1.0")
    assert env["MAKE"] == "make" and env["MAKEFLAGS"] == "-j3"
    assert env["SAGE_NUM_THREADS"] == "3" and env["UNAME"] == "Linux"
    assert env["PATH"].startswith(f"{prefix}/bin:")
    assert env["CPATH"].startswith(f"{prefix}/include")
    assert env["CPPFLAGS"].startswith(f"-I{prefix}/include")
    assert env["LIBRARY_PATH"].startswith(f"{prefix}/lib")
    assert env["LDFLAGS"].startswith(f"-L{prefix}/lib -Wl,-rpath,{prefix}/lib")
    assert env["PKG_CONFIG_PATH"].startswith(f"{prefix}/lib/pkgconfig:")
    assert env["SAGE_SPKG_WHEELS"] == f"{prefix}/var/lib/mason/wheels"


def test_sage_root_is_the_catalogs_parent_outside_build_pkgs(tmp_path: Path) -> None:
    catalog = tmp_path / "mycatalog"
    (catalog / "pkg").mkdir(parents=True)
    (catalog / "pkg" / "spkg-install.in").write_text('echo "$SAGE_ROOT" > root.out\n')
    spec = recipe(tmp_path, {})
    spec = BuildSpec(**{**spec.__dict__, "recipe_dir": catalog / "pkg"})
    build(spec)
    assert (spec.build_dir / "root.out").read_text() == f"{tmp_path}\n"


def test_downloads_from_inside_a_build_are_blocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "file.txt").write_text("payload")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    with serve(tmp_path / "www") as server:
        fetch = f"import urllib.request; urllib.request.urlopen('{server.url}/file.txt')"
        spec = recipe(
            tmp_path,
            {
                "spkg-install.in": "env -0 > env.out\n"
                f'python3 -c "{fetch}" || sdh_die "Error installing $PKG_NAME: download failed"\n'
            },
        )
        with pytest.raises(ScriptFailed):
            build(spec)
        assert server.requests == []
    env = read_env(spec.build_dir / "env.out")
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        assert env[name] == BLOCKED_PROXY
    assert "no_proxy" not in env and env["PIP_NO_INDEX"] == "1"
    assert "Connection refused" in log(spec)
    assert "Error installing pkg-1.0: download failed" in log(spec)


# -- running scripts ---------------------------------------------------------------------


def test_fragments_run_without_set_e_and_the_exit_status_decides(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": "false\necho still running > after.out\n"})
    assert build(spec) == ["spkg-install"]
    assert (spec.build_dir / "after.out").read_text() == "still running\n"


def test_scripts_run_in_order_in_the_build_dir_with_one_log(tmp_path: Path) -> None:
    files = {
        f"{which}.in": f'echo {which} in "$PWD"; echo {which} >> order.out\n'
        for which in ("spkg-check", "spkg-install", "spkg-build", "spkg-preinst")
    }
    spec = recipe(tmp_path, files | {"data.txt": "recipe file\n"})
    assert build(spec, check=True) == ["spkg-preinst", "spkg-build", "spkg-install", "spkg-check"]
    order = (spec.build_dir / "order.out").read_text().split()
    assert order == ["spkg-preinst", "spkg-build", "spkg-install", "spkg-check"]
    assert (spec.build_dir / "data.txt").read_text() == "recipe file\n"
    assert f"spkg-build in {spec.build_dir}" in log(spec)
    assert os.readlink(spec.destdir / str(spec.prefix)[1:] / "lib64") == "lib"


def test_a_failing_script_raises_with_status_and_log(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-build.in": "echo building\nexit 3\n", "spkg-install.in": ""})
    with pytest.raises(ScriptFailed) as info:
        build(spec)
    err = info.value
    assert (err.package, err.script, err.status, err.log_path) == (
        "pkg-1.0",
        "spkg-build",
        3,
        spec.log_path,
    )
    assert isinstance(err, MasonError) and not isinstance(err, BadInput)
    assert str(spec.log_path) in str(err) and "status 3" in str(err)
    assert "building" in log(spec)
    assert err.log_tail(2) == ["building", "=== mason: spkg-build exited with status 3 ==="]


def test_log_tail_reads_only_the_end_of_a_big_log(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(300_000)))  # ~3 MB
    assert log_tail(log, 2) == ["line 299998", "line 299999"]
    assert len(log_tail(log, 10**6)) < 300_000  # no more than the end is read
    assert all(line.startswith("line ") for line in log_tail(log, 10**6))
    assert log_tail(tmp_path / "missing.log", 5) == []


def test_a_script_killed_by_a_signal(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": "kill -KILL $$\n"})
    with pytest.raises(ScriptFailed, match="killed by signal 9") as info:
        build(spec)
    assert info.value.status == -9


def test_a_failing_configure_names_the_package_and_config_log(tmp_path: Path) -> None:
    configure = '#!/bin/sh\necho "checking: $*" >> config.log\nexit 1\n'
    spec = recipe(tmp_path, {"spkg-install.in": "cd src && sdh_configure --with-x\n"})
    src = spec.build_dir / "src"
    src.mkdir()
    (src / "configure").write_text(configure)
    (src / "configure").chmod(0o755)
    with pytest.raises(ScriptFailed) as info:
        build(spec)
    assert info.value.script == "spkg-install" and info.value.status == 1
    assert "Error configuring pkg-1.0" in log(spec)
    assert str(src / "config.log") in log(spec)
    first, second = (src / "config.log").read_text().splitlines()
    options = f"--prefix={spec.prefix} --libdir={spec.prefix}/lib --disable-static"
    autoconf = "--disable-maintainer-mode --disable-dependency-tracking"
    assert first == f"checking: {options} {autoconf} --with-x"
    assert second == f"checking: {options} --with-x"  # tried again without autoconf's options


def test_a_shebang_in_a_fragment_is_an_error(tmp_path: Path) -> None:
    spec = recipe(
        tmp_path, {"spkg-install.in": "#!/bin/bash\ntrue\n", "spkg-check.in": "#!/bin/sh\n"}
    )
    with pytest.raises(BadFragment) as info:
        build(spec)
    assert isinstance(info.value, BadInput)
    assert "pkg-1.0" in str(info.value)
    assert [p.name for p in info.value.fragments] == ["spkg-check.in", "spkg-install.in"]
    assert list(spec.build_dir.iterdir()) == []
    assert not spec.log_path.exists()


def test_an_executable_spkg_install_runs_directly(tmp_path: Path) -> None:
    script = f"#!{sys.executable}\nimport os\nopen('py.out', 'w').write(os.environ['PKG_NAME'])\n"
    spec = recipe(tmp_path, {"spkg-install": script})
    (spec.recipe_dir / "spkg-install").chmod(0o755)
    assert build(spec) == ["spkg-install"]
    assert (spec.build_dir / "py.out").read_text() == "pkg-1.0"


def test_a_removal_script_runs_from_a_copy_of_the_recipe(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-prerm.in": 'echo "removing $PKG_NAME" > "$PREFIX/prerm.out"\n'})
    copy_recipe(spec)
    assert run_script(spec, "spkg-prerm")
    assert (spec.prefix / "prerm.out").read_text() == "removing pkg-1.0\n"
    assert not spec.destdir.exists()


def test_run_script_runs_any_script_later(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-postrm.in": "echo removed > postrm.out\n"})
    assert build(spec) == []
    assert run_script(spec, "spkg-postinst") is False
    assert run_script(spec, "spkg-postrm") is True
    assert (spec.build_dir / "postrm.out").read_text() == "removed\n"


def test_make_gets_the_jobserver(tmp_path: Path) -> None:
    makefile = 'all: a b\na b:\n\t@echo job $@\n\t@echo "$(MAKEFLAGS)" > flags.$@\n'
    spec = recipe(tmp_path, {"Makefile": makefile, "spkg-build.in": "sdh_make\n"})
    with Jobserver(2) as jobserver:
        extra = {"MAKEFLAGS": jobserver.makeflags()}
        spec = BuildSpec(**{**spec.__dict__, "extra_env": extra})
        prepare_build_dir(spec)
        run_build(spec, pass_fds=jobserver.pass_fds())
    assert "jobserver unavailable" not in log(spec) and "job a" in log(spec)
    assert "jobserver" in (spec.build_dir / "flags.a").read_text()


# -- the sdh_* helpers -------------------------------------------------------------------


def test_make_install_and_sdh_install_stage_into_destdir(tmp_path: Path) -> None:
    makefile = (
        "install:\n\tmkdir -p $(DESTDIR)$(PREFIX)/lib\n\techo lib > $(DESTDIR)$(PREFIX)/lib/x\n"
    )
    fragment = (
        'sdh_make_install PREFIX="$PREFIX"\n'
        "mkdir -p docs/sub && echo doc > docs/sub/a.txt && echo one > one.txt\n"
        'sdh_install docs one.txt "$SAGE_SHARE/pkg"\n'
        'sdh_install -T one.txt "$PREFIX/etc/renamed.conf"\n'
    )
    spec = recipe(tmp_path, {"Makefile": makefile, "spkg-install.in": fragment})
    build(spec)
    tree = staged_tree(spec.package, spec.destdir, spec.prefix)
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert files == [
        "etc/renamed.conf",
        "lib/x",
        "share/pkg/docs/sub/a.txt",
        "share/pkg/one.txt",
    ]
    assert list(spec.prefix.iterdir()) == []


def test_sdh_cmake_configures_into_the_install_tree(tmp_path: Path) -> None:
    cmakelists = (
        "cmake_minimum_required(VERSION 3.10)\nproject(p NONE)\n"
        "install(FILES f DESTINATION share/p)\n"
    )
    fragment = "cd src && sdh_cmake && sdh_make && sdh_make_install\n"
    spec = recipe(tmp_path, {"spkg-install.in": fragment})
    (spec.build_dir / "src").mkdir()
    (spec.build_dir / "src" / "CMakeLists.txt").write_text(cmakelists)
    (spec.build_dir / "src" / "f").write_text("data\n")
    build(spec)
    tree = staged_tree(spec.package, spec.destdir, spec.prefix)
    assert (tree / "share/p/f").read_text() == "data\n"


def test_sdh_pip_install_works_in_a_venv_without_pip(tmp_path: Path) -> None:
    demo_py = Path(__file__).parent.parent / "examples/demo/sources/demo_py-1.0"
    spec = recipe(tmp_path, {"spkg-install.in": "cd src && sdh_pip_install .\n"})
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", spec.prefix], check=True)
    shutil.copytree(demo_py, spec.build_dir / "src")
    build(spec)
    no_pip = subprocess.run(
        [spec.prefix / "bin/python3", "-c", "import pip"], capture_output=True, text=True
    )
    assert no_pip.returncode == 1 and "No module named 'pip'" in no_pip.stderr
    wheels = build_wheels(spec)
    assert [p.name for p in wheels.stored] == ["demo_py-1.0-py3-none-any.whl"]
    assert wheels.to_install == wheels.stored


def test_sdh_pip_install_builds_stores_and_lists_one_wheel_to_install(tmp_path: Path) -> None:
    demo_py = Path(__file__).parent.parent / "examples/demo/sources/demo_py-1.0"
    spec = recipe(tmp_path, {"spkg-install.in": "sdh_pip_install --no-build-isolation src\n"})
    shutil.copytree(demo_py, spec.build_dir / "src")
    build(spec)
    wheels = staged_tree(spec.package, spec.destdir, spec.prefix) / "var/lib/mason/wheels"
    assert [p.name for p in wheels.iterdir()] == ["demo_py-1.0-py3-none-any.whl"]
    listed = (spec.build_dir / "mason-wheels-to-install.txt").read_text()
    assert listed == "demo_py-1.0-py3-none-any.whl\n"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("sdh_die 'Error: custom failure in' $PKG_NAME", "Error: custom failure in pkg-1.0"),
        ("sdh_die <<EOF\nmulti-line $PKG_NAME\nEOF", "multi-line pkg-1.0"),
        ("unset FOO BAR; sdh_check_vars PREFIX FOO BAR", "pkg-1.0: the variable(s) FOO BAR"),
        ("sdh_make no-such-target", "Error building pkg-1.0"),
        ("sdh_make_check", "Failures checking pkg-1.0"),
        ("sdh_make_install", "Error installing pkg-1.0"),
        ("sdh_install nothing-here $PREFIX/share", "source file/directory nothing-here"),
        ("sdh_install only-one-arg", "Error installing pkg-1.0: sdh_install needs"),
        ("touch f; sdh_install -T f f $PREFIX/x", "sdh_install -T takes exactly one source"),
        ("sdh_cmake", "Error configuring pkg-1.0 with cmake"),
        ("sdh_pip_install", "Error building a wheel for pkg-1.0: sdh_pip_install needs"),
        ("sdh_store_and_pip_install_wheel --user .", "cannot honour the pip option --user"),
        ("mkdir dist; touch dist/a-1-py3-none-any.whl; sdh_store_wheel dist", "takes . as its"),
        ("echo 'raise SystemExit(1)' > setup.py; sdh_setup_bdist_wheel", "a wheel for pkg-1.0"),
        ("mkdir nopy; sdh_pip_install nopy", "Error building a wheel for pkg-1.0"),
        ("sdh_store_wheel .", "Error storing a wheel for pkg-1.0: no wheel found"),
        (
            "mkdir dist; touch dist/a-1-py3-none-any.whl dist/b-1-py3-none-any.whl;"
            " sdh_store_and_pip_install_wheel .",
            "more than one wheel",
        ),
    ],
)
def test_helper_failures_end_the_script_naming_the_package(
    tmp_path: Path, fragment: str, message: str
) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": f"{fragment}\necho NOT REACHED\n"})
    with pytest.raises(ScriptFailed) as info:
        build(spec)
    assert info.value.status == 1
    assert message in log(spec) and "NOT REACHED" not in log(spec)
    if "pkg-1.0" not in message:
        assert "pkg-1.0" in log(spec)


def test_sdh_pip_uninstall_is_a_harmless_no_op(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-postrm.in": "sdh_pip_uninstall -r requirements.txt\n"})
    build(spec)
    assert run_script(spec, "spkg-postrm")
    assert "nothing to do for pkg-1.0" in log(spec)


# -- patches -----------------------------------------------------------------------------

FILE_V1 = "line one\nline two\n"
PATCH_1 = "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n line one\n-line two\n+line 2\n"
PATCH_2 = "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n-line one\n+line 1\n line 2\n"


def test_patches_apply_in_name_order(tmp_path: Path) -> None:
    # 0002 only applies after 0001 (it needs "line 2").
    spec = recipe(tmp_path, {"patches/0002-b.patch": PATCH_2, "patches/0001-a.patch": PATCH_1})
    (spec.build_dir / "src").mkdir()
    (spec.build_dir / "src" / "f.txt").write_text(FILE_V1)
    applied = apply_patches(spec.package, spec.recipe_dir, spec.build_dir / "src")
    assert [p.name for p in applied] == ["0001-a.patch", "0002-b.patch"]
    assert (spec.build_dir / "src" / "f.txt").read_text() == "line 1\nline 2\n"


def test_a_patch_that_does_not_apply_is_named_with_patch_output(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"patches/0001-a.patch": PATCH_1, "patches/0002-b.patch": PATCH_1})
    (spec.build_dir / "src").mkdir()
    (spec.build_dir / "src" / "f.txt").write_text(FILE_V1)
    with pytest.raises(PatchFailed) as info:
        apply_patches(spec.package, spec.recipe_dir, spec.build_dir / "src")
    err = info.value
    assert err.patch.name == "0002-b.patch" and err.package == "pkg-1.0"
    assert "0002-b.patch" in str(err) and "pkg-1.0" in str(err)
    assert "Reversed (or previously applied) patch detected!" in err.output
    assert err.output.strip() in str(err)


# -- what the build left behind ----------------------------------------------------------


def test_files_staged_outside_the_prefix_are_reported(tmp_path: Path) -> None:
    fragment = (
        'mkdir -p "$DESTDIR/etc" "$DESTDIR$PREFIX/lib" && touch "$DESTDIR/etc/stray.conf"\n'
        'touch "$DESTDIR$PREFIX/lib/ok" "$DESTDIR$PREFIX.bak"\n'
    )
    spec = recipe(tmp_path, {"spkg-install.in": fragment})
    build(spec)
    with pytest.raises(StagedOutsidePrefix) as info:
        staged_tree(spec.package, spec.destdir, spec.prefix)
    assert isinstance(info.value, BadInput)
    assert set(info.value.paths) == {
        spec.destdir / "etc",
        spec.destdir / f"{str(spec.prefix)[1:]}.bak",
    }
    assert "pkg-1.0" in str(info.value) and str(spec.destdir / "etc") in str(info.value)


def test_a_clean_staged_tree_is_the_prefix_under_destdir(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": 'touch "$DESTDIR$PREFIX/lib/ok"\n'})
    build(spec)
    tree = staged_tree(spec.package, spec.destdir, spec.prefix)
    assert tree == spec.destdir / str(spec.prefix)[1:]
    assert (tree / "lib" / "ok").is_file()


def test_a_build_that_staged_nothing_has_an_empty_tree(tmp_path: Path) -> None:
    prefix = tmp_path / "local"
    tree = staged_tree("pkg-1.0", tmp_path / "never-made", prefix)
    assert tree == tmp_path / "never-made" / str(prefix)[1:] and not tree.exists()


def test_writes_into_the_live_prefix_are_detected_and_named(tmp_path: Path) -> None:
    fragment = (
        'mkdir -p "$PREFIX/share/oops" && echo x > "$PREFIX/share/oops/file.txt"\n'
        'echo changed >> "$PREFIX/lib/existing.so"\n'
        'mkdir -p "$PREFIX/var/log/mason" && echo fine > "$PREFIX/var/log/mason/pkg.log"\n'
    )
    spec = recipe(tmp_path, {"spkg-install.in": fragment})
    (spec.prefix / "lib").mkdir()
    (spec.prefix / "lib" / "existing.so").write_text("old\n")
    (spec.prefix / "lib" / "untouched.so").write_text("old\n")
    (spec.prefix / "var" / "log" / "mason").mkdir(parents=True)  # mason's own: not checked
    before = snapshot_prefix(spec.prefix)
    build(spec)
    with pytest.raises(WroteIntoPrefix) as info:
        check_prefix_untouched(spec.package, before)
    assert info.value.paths == ("lib/existing.so", "share/oops/file.txt")
    assert "pkg-1.0" in str(info.value) and "share/oops/file.txt" in str(info.value)
    # Paths another package merged meanwhile can be excluded by the caller.
    check_prefix_untouched(
        spec.package, before, ignore=lambda p: p.startswith(("share", "lib/existing"))
    )


def test_a_build_that_stays_in_destdir_leaves_the_prefix_untouched(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {"spkg-install.in": 'touch "$DESTDIR$PREFIX/lib/ok"\n'})
    (spec.prefix / "lib").mkdir()
    (spec.prefix / "lib" / "libz.so").write_text("z")
    before = snapshot_prefix(spec.prefix)
    build(spec)
    check_prefix_untouched(spec.package, before)
    assert stat.S_ISREG((spec.prefix / "lib" / "libz.so").stat().st_mode)
