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
from mason.build.sandboxrun import daemon_path
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


# umount the prefix's overlay, remount / read-write, mount a tmpfs, make a mount
# namespace; then in a user and mount namespace of its own (which anyone may make), the
# first two again: each result of libc (-1: refused)
MOUNTS = """
import ctypes, sys
libc, prefix, rw = ctypes.CDLL(None), sys.argv[1].encode(), ctypes.c_ulong(32 | 4096)
tries = [lambda: libc.umount2(prefix, 2), lambda: libc.mount(None, b"/", None, rw, None)]
tries += [lambda: libc.mount(b"x", prefix, b"tmpfs", ctypes.c_ulong(0), None)]
tries += [lambda: libc.unshare(0x00020000)]
print(*[f() for f in tries])
print(libc.unshare(0x10000000 | 0x00020000), *[f() for f in tries[:2]])
"""


@needs_sandbox
def test_the_script_holds_no_capability_and_cannot_change_a_mount(tmp_path: Path) -> None:
    spec = spec_for(
        tmp_path,
        "grep -E '^(Cap|NoNewPrivs)' /proc/self/status > \"$SAGE_PKG_DIR/status\"\n"
        f'{sys.executable} -c \'{MOUNTS}\' "$SAGE_LOCAL" > "$SAGE_PKG_DIR/mounts"\n'
        'echo x > "$SAGE_LOCAL/lib/after"\n',
    )
    before = tree(spec.prefix)
    assert [c.describe() for c in run(spec)[spec.prefix]] == ["created lib/after"]
    assert tree(spec.prefix) == before
    status = dict(
        line.split(":\t") for line in (spec.build_dir / "status").read_text().split("\n") if line
    )
    assert status.pop("NoNewPrivs") == "1"
    assert sorted(status) == ["CapAmb", "CapBnd", "CapEff", "CapInh", "CapPrm"]
    assert set(status.values()) == {"0000000000000000"}
    assert (spec.build_dir / "mounts").read_text() == "-1 -1 -1 -1\n0 -1 -1\n"


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


@needs_sandbox
def test_a_build_cannot_reach_into_another_running_build(tmp_path: Path) -> None:
    """Two scripts at once (as at -j2): the first publishes its pid in the shared /dev/shm
    and waits; the second cannot write its DESTDIR through /proc/<pid>/root, nor read its
    environment, nor the sandbox server's root."""
    assert isinstance(SANDBOX, Sandbox)
    prefix, logs = tmp_path / "prefix", tmp_path / "logs"
    logs.mkdir()
    dirs = {}
    for name in ("a", "b"):
        work = prefix / "var/tmp/mason" / name
        dirs[name] = (work, work / "build", work / "dest")
        for path in dirs[name][1:]:
            path.mkdir(parents=True)
    pid_file, b_dest = f"/dev/shm/{tmp_path.name}", dirs["b"][2]
    scripts = {
        "b": f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && sleep 30",
        "a": f"until [ -s {pid_file} ]; do sleep 0.05; done; pid=$(cat {pid_file})\n"
        f"echo evil > /proc/$pid/root{b_dest}/evil || echo refused\n"
        "cat /proc/$pid/environ || echo refused\n"
        "for p in $servers; do ls /proc/$p/root/ || echo refused; done\n",
    }
    started = {}
    for name in ("b", "a"):
        if name == "a":  # the server runs now (bwrap's child, sandboxd.py its script)
            servers = " ".join(str(p) for p in servers_running())
            scripts["a"] = f"servers='{servers}'\n{scripts['a']}"
        work, build, dest = dirs[name]
        with (logs / name).open("wb") as log:
            started[name] = SANDBOX.spawn(
                ["/bin/sh", "-c", scripts[name]], live=[prefix], writable=[build, dest],
                work=work, capture=work / "captured", cwd=build, env=os.environ,
                log=log.fileno(),
            )  # fmt: skip
    assert started["a"].wait() == 0
    assert started["b"].pid is not None
    os.killpg(started["b"].pid, 9)
    assert started["b"].wait() == 128 + 9
    said = (logs / "a").read_text()
    assert said.count("refused") >= 3, said  # the server's root too
    assert said.count("Permission denied") == said.count("refused"), said
    assert not (b_dest / "evil").exists()


def servers_running() -> list[int]:
    """The pids of this checkout's sandbox servers (others' come and go meanwhile)."""
    ours, found = str(daemon_path()).encode(), []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 4 and argv[3] == ours:  # python -S -E PATH FD
            found.append(int(entry.name))
    return found
