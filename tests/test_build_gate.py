"""A gated build (``run_build(gate=...)``, mason.build.scripts): the first script starts
(bash, the ``sdh_*`` helpers; the sandbox when there is one) before ``gate()`` (the job
slot) returns, and its fragment runs only after it; if ``gate`` raises, the fragment never
runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mason.build import BuildSpec, prepare_build_dir, run_build
from test_build import recipe


def _running(script: Path) -> bool:
    """Whether a process runs ``script`` (its command line names it)."""
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(script).encode() in f.read():
                    return True
        except OSError:
            continue
    return False


def _spec(tmp_path: Path) -> BuildSpec:
    spec = recipe(tmp_path, {"spkg-install.in": "echo ran > fragment.out\n"})
    prepare_build_dir(spec)
    return spec


def test_the_script_starts_before_the_gate_and_its_fragment_runs_after(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    seen: list[tuple[bool, bool]] = []

    def gate() -> None:
        # the process exists; its command line shows once its exec is complete
        script = spec.build_dir / "spkg-install"
        for _ in range(3000):
            if _running(script):
                break
            time.sleep(0.01)
        seen.append((_running(script), (spec.build_dir / "fragment.out").exists()))

    assert run_build(spec, gate=gate) == ["spkg-install"]
    assert seen == [(True, False)]  # started, fragment not run yet; gate called once
    assert (spec.build_dir / "fragment.out").read_text() == "ran\n"


def test_a_gate_that_raises_stops_the_script_before_its_fragment(tmp_path: Path) -> None:
    spec = _spec(tmp_path)

    def gate() -> None:
        raise KeyboardInterrupt  # any exception: SlotCancelled in a run

    with pytest.raises(KeyboardInterrupt):
        run_build(spec, gate=gate)
    assert not (spec.build_dir / "fragment.out").exists()
    assert not _running(spec.build_dir / "spkg-install")


def test_a_recipe_without_scripts_still_passes_the_gate(tmp_path: Path) -> None:
    spec = recipe(tmp_path, {})
    prepare_build_dir(spec)
    calls: list[str] = []
    assert run_build(spec, gate=lambda: calls.append("gate")) == []
    assert calls == ["gate"]
