"""mason.python.staged_dist: an installation staged earlier by the same build goes first."""

from __future__ import annotations

from pathlib import Path

from mason.python import Venv
from mason.python.staged_dist import drop_staged_distribution, project_of


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_project_of_a_wheel_file() -> None:
    assert project_of(Path("Foo_Bar-1.0-py3-none-any.whl")) == "foo-bar"


def test_an_egg_info_installation_goes_with_its_packages_and_scripts(
    venv: Venv, tmp_path: Path
) -> None:
    staged = tmp_path / "staged"
    site = venv.relative.purelib.as_posix()
    egg = f"{site}/Mason_Tool-1.0-py3.11.egg-info"
    write(
        staged,
        {
            f"{site}/masontool/__init__.py": "",
            f"{site}/masontool/__pycache__/__init__.cpython-311.pyc": "",
            f"{egg}/top_level.txt": "masontool\n",
            f"{egg}/entry_points.txt": "[console_scripts]\nmasontool = masontool:main\n",
            "bin/masontool": "#!python\n",
            "bin/other": "#!python\n",
            f"{site}/othertool/__init__.py": "",
        },
    )
    removed = drop_staged_distribution("mason-tool", venv, staged, venv.root)
    assert removed == [staged / egg]
    assert all_files(staged) == ["bin/other", f"{site}/othertool/__init__.py"]


def test_a_dist_info_installation_goes_by_its_record_and_nothing_outside(
    venv: Venv, tmp_path: Path
) -> None:
    staged = tmp_path / "staged"
    site = venv.relative.purelib.as_posix()
    info = f"{site}/demo-1.0.dist-info"
    record = (
        "demo.py,,\n../../../bin/demo,,\n../../../../outside.txt,,\n"
        "demo-1.0.dist-info/METADATA,,\ndemo-1.0.dist-info/RECORD,,\n"
    )
    write(
        staged,
        {
            f"{site}/demo.py": "",
            "bin/demo": "",
            f"{info}/METADATA": "",
            f"{info}/RECORD": record,
            "share/keep.txt": "",
        },
    )
    (tmp_path / "outside.txt").write_text("never removed")
    assert drop_staged_distribution("demo", venv, staged, venv.root) == [staged / info]
    assert all_files(staged) == ["share/keep.txt"]
    assert (tmp_path / "outside.txt").read_text() == "never removed"
