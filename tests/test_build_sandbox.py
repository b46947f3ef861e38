"""The build sandbox at the build layer: real bubblewrap, real bash scripts.

A script writing into the live prefix leaves it unchanged and its attempt is read back
per path; the network is unreachable; HOME is private; the probe and ``resolve`` say
what is missing where bubblewrap is not on PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from installsupport import tree
from mason.build import BuildSpec, ScriptFailed, prepare_build_dir, run_script
from mason.build.capture import Change, captured_changes
from mason.build.sandbox import Sandbox, SandboxRequired, Unavailable, probe, resolve
from mason.build.scripts import capture_root

SANDBOX = probe(os.environ.get("PATH"))
needs_sandbox = pytest.mark.skipif(
    not isinstance(SANDBOX, Sandbox),
    reason=f"no sandbox here: {getattr(SANDBOX, 'reason', '')}",
)


def spec_for(tmp_path: Path, body: str, *, venv: Path | None = None) -> BuildSpec:
    """A package ``foo`` whose spkg-install runs ``body``; its work directory lies in the
    prefix, as mason's do. The prefix holds lib/a, lib/b and share/d/f."""
    prefix = tmp_path / "prefix"
    for rel in ("lib/a", "lib/b", "share/d/f"):
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_text(f"{rel}\n")
    recipe = tmp_path / "pkgs" / "foo"
    recipe.mkdir(parents=True)
    (recipe / "spkg-install.in").write_text(body)
    work = prefix / "var/tmp/mason/foo-1.0-x"
    assert isinstance(SANDBOX, Sandbox)
    spec = BuildSpec(
        "foo", "1.0", recipe, prefix, work / "build", work / "dest", tmp_path / "log",
        venv=venv, sandbox=SANDBOX,
    )  # fmt: skip
    spec.build_dir.mkdir(parents=True)
    prepare_build_dir(spec)
    return spec


def run(spec: BuildSpec) -> dict[Path, list[Change]]:
    run_script(spec, "spkg-install")
    return captured_changes(capture_root(spec), spec.live_trees)


@needs_sandbox
def test_writes_into_the_prefix_are_caught_per_path_and_never_reach_it(tmp_path: Path) -> None:
    spec = spec_for(
        tmp_path,
        'echo more >> "$SAGE_LOCAL/lib/a"\n'
        'echo new > "$SAGE_LOCAL/lib/new"\n'
        'chmod 600 "$SAGE_LOCAL/lib/b"\n'
        'rm -rf "$SAGE_LOCAL/share/d"\n'
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/lib" && echo ok > "$SAGE_DESTDIR$SAGE_LOCAL/lib/ok"\n',
    )
    before = tree(spec.prefix)
    changes = run(spec)
    assert tree(spec.prefix) == before
    assert [c.describe() for c in changes[spec.prefix]] == [
        "changed lib/a",
        "changed lib/b",
        "created lib/new",
        "deleted share/d/",
        "deleted share/d/f",
    ]
    assert (spec.staged_prefix / "lib/ok").read_text() == "ok\n"


@needs_sandbox
def test_a_directory_replaced_by_an_empty_one_deletes_what_it_held(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, 'rm -rf "$SAGE_LOCAL/share" && mkdir -p "$SAGE_LOCAL/share/d"\n')
    changes = run(spec)
    assert [c.describe() for c in changes[spec.prefix]] == ["deleted share/d/f"]


@needs_sandbox
def test_a_venv_outside_the_prefix_is_behind_its_own_overlay(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "lib").mkdir(parents=True)
    spec = spec_for(tmp_path, 'echo x > "$SAGE_VENV/lib/stray.py"\n', venv=venv)
    changes = run(spec)
    assert not (venv / "lib/stray.py").exists()
    assert changes == {venv: [Change("lib/stray.py", "created")]}


@needs_sandbox
def test_home_is_private_and_the_rest_of_the_system_read_only(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    spec = spec_for(
        tmp_path,
        'echo cache > "$HOME/.cache-file" && echo tmp > "$TMPDIR/t"\n'
        f'{{ echo x > {outside}/stray; }} 2>> "$SAGE_PKG_DIR/errors" || true\n',
    )
    assert run(spec) == {}
    assert (spec.home / ".cache-file").read_text() == "cache\n"
    assert spec.home.is_relative_to(spec.build_dir)
    assert not (outside / "stray").exists()
    assert "Read-only file system" in (spec.build_dir / "errors").read_text()


@needs_sandbox
def test_a_server_on_the_hosts_loopback_is_unreachable(tmp_path: Path) -> None:
    from httpserver import serve

    (tmp_path / "www").mkdir()
    (tmp_path / "www/file").write_text("data\n")
    with serve(tmp_path / "www") as server:
        spec = spec_for(
            tmp_path,
            f'{sys.executable} -c "import urllib.request as u, sys; '
            f'u.urlopen(sys.argv[1], timeout=30)" {server.url}/file\n',
        )
        with pytest.raises(ScriptFailed):
            run_script(spec, "spkg-install", base_env={**os.environ, "no_proxy": "*"})
        assert server.requests == []
    assert "Connection refused" in spec.log_path.read_text()


@needs_sandbox
def test_removal_scripts_run_outside_the_sandbox(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "true\n")
    (spec.build_dir / "spkg-postinst.in").write_text('echo done > "$SAGE_LOCAL/lib/post"\n')
    run_script(spec, "spkg-postinst")
    assert (spec.prefix / "lib/post").read_text() == "done\n"


def test_without_bwrap_on_path_the_probe_names_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("perl", "sh", "cp"):
        where = shutil.which(tool)
        if where:
            (bin_dir / tool).symlink_to(where)
    found = probe(str(bin_dir))
    assert isinstance(found, Unavailable)
    assert "bwrap" in found.reason
    assert "apt install bubblewrap" in found.notice()


def test_require_without_bwrap_raises_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxRequired, match="bubblewrap"):
        resolve("require")
    assert resolve("off") == (None, None)
    sandbox, why = resolve("auto")
    assert sandbox is None and isinstance(why, Unavailable)


def test_the_setting_comes_from_the_flag_the_environment_or_mason_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mason.config import BadSandboxMode, load_settings

    monkeypatch.delenv("MASON_SANDBOX", raising=False)
    assert load_settings(cwd=tmp_path).sandbox == "auto"
    (tmp_path / "mason.toml").write_text('[mason]\nsandbox = "off"\n')
    assert load_settings(cwd=tmp_path).sandbox == "off"
    monkeypatch.setenv("MASON_SANDBOX", "require")
    assert load_settings(cwd=tmp_path).sandbox == "require"
    assert load_settings(cwd=tmp_path, sandbox="auto").sandbox == "auto"
    monkeypatch.setenv("MASON_SANDBOX", "sometimes")
    with pytest.raises(BadSandboxMode, match=r"MASON_SANDBOX.*auto, require or off"):
        load_settings(cwd=tmp_path)
