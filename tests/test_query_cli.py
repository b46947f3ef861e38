"""The query commands as a user runs them: output, JSON, exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import DEMO_CATALOG
from mason.cli import main
from mason.commands.query import RecordUnreadable, installed_state
from mason.plan import Installed
from recipefactory import write_recipe


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalog in ``tmp_path/pkgs``, commands run from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for var in ("MASON_CATALOG", "MASON_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    pkgs = tmp_path / "pkgs"
    write_recipe(
        pkgs, "zlib", version="1.2.11.p0", tarball=True, files={"SPKG.rst": "zlib: deflate\n"}
    )
    write_recipe(pkgs, "libpng", deps="zlib", tarball=True)
    write_recipe(pkgs, "tool", type="optional", version=None, files={"spkg-install.in": "true\n"})
    write_recipe(pkgs, "app", deps="libpng | tool", files={"requirements.txt": "app\n"})
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_record(prefix: Path, name: str, version: str, **extra: object) -> Path:
    records = prefix / "var/lib/mason/installed"
    records.mkdir(parents=True, exist_ok=True)
    path = records / f"{name}-{version}"
    path.write_text(json.dumps({"package_name": name, "package_version": version, **extra}))
    return path


def test_list_text_json_and_filters(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--catalog", "pkgs")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["app", "libpng", "tool", "zlib"]
    assert lines[3].split() == ["zlib", "1.2.11.p0", "standard", "normal", "zlib:", "deflate"]
    code, out, _ = run(capsys, "list", "--catalog", "pkgs", "--json", "--kind", "script")
    assert json.loads(out) == [
        {
            "name": "tool",
            "version": "none",
            "type": "optional",
            "kind": "script",
            "tree": "prefix",
            "summary": "",
        }
    ]
    _, out, _ = run(capsys, "list", "--catalog", "pkgs", "--json", "--type", "standard")
    assert [row["name"] for row in json.loads(out)] == ["app", "libpng", "zlib"]


def test_info(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "--catalog", "pkgs", "--json", "zlib")
    data = json.loads(out)
    assert code == 0
    assert data["version"] == "1.2.11.p0"
    assert (data["upstream_version"], data["patch_level"]) == ("1.2.11", 0)
    assert data["tarball"] == "zlib-1.2.11.tar.gz"
    assert data["checksums"] == {"sha1": "0" * 40}
    assert data["reverse_dependencies"] == {"deps": ["libpng"]}
    assert data["installed_version"] is None
    _, out, _ = run(capsys, "info", "--catalog", "pkgs", "app")
    assert "dependencies: libpng" in out.splitlines()
    assert "order only dependencies: tool" in out.splitlines()
    assert "kind: pip" in out.splitlines()


def test_unknown_package_is_exit_2_with_a_suggestion(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "info", "--catalog", "pkgs", "zlb")
    assert code == 2 and out == ""
    assert "not in the catalog: zlb (did you mean zlib?)" in err
    code, _, err = run(capsys, "plan", "--catalog", "pkgs", "zlib", "nope")
    assert code == 2 and "nope" in err


def test_no_catalog_is_a_usage_error(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list")
    assert code == 2
    assert "no catalog given" in err and "--catalog" in err


def test_catalog_and_variables_from_environment_and_mason_toml(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(work / "pkgs", "uses_var", deps="$(COMPRESSOR)")
    (work / "mason.toml").write_text(
        '[mason]\ncatalog = "pkgs"\n[mason.variables]\nCOMPRESSOR = "zlib"\n'
    )
    code, out, _ = run(capsys, "info", "--json", "uses_var")
    assert code == 0 and json.loads(out)["dependencies"] == ["zlib"]
    (work / "mason.toml").unlink()
    monkeypatch.setenv("MASON_CATALOG", str(work / "pkgs"))
    code, _, err = run(capsys, "info", "uses_var")  # $(COMPRESSOR) is now a file dependency
    assert code == 0, err


def test_plan_text_and_json_against_the_records(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", "--catalog", "pkgs")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()[:-1]] == ["tool", "zlib", "libpng", "app"]
    assert out.splitlines()[-1] == "4 to build, 0 up to date"

    prefix = work / "local"
    write_record(prefix, "zlib", "1.2.11", install_date="2026-01-01T00:00:00")
    write_record(prefix, "tool", "none", installed_at=1.0)
    (prefix / "var/lib/mason/installed/.zlib-1.2.11.p0.tmp").write_text("half written")
    code, out, _ = run(capsys, "plan", "--catalog", "pkgs", "--json", "app")
    plan = json.loads(out)
    assert plan["requested"] == ["app"]
    assert plan["up_to_date"] == ["tool"]
    assert [(s["name"], s["reason"], s["installed_version"]) for s in plan["steps"]] == [
        ("zlib", "new version (1.2.11 -> 1.2.11.p0)", "1.2.11"),
        ("libpng", "not installed", None),
        ("app", "not installed", None),
    ]
    assert plan["steps"][2]["prerequisites"] == ["libpng"]


def test_installed_state_reads_the_records(tmp_path: Path) -> None:
    assert installed_state(tmp_path / "nothing") == {}
    write_record(tmp_path, "a", "1", install_date="2026-01-01T00:00:00+00:00", recipe_hash="h")
    write_record(tmp_path, "b", "2", installed_at=5.5)
    old = write_record(tmp_path, "c", "1", installed_at=1.0)
    write_record(tmp_path, "c", "2", installed_at=2.0)  # an interrupted upgrade: newest wins
    state = installed_state(tmp_path)
    expected_a = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert state == {
        "a": Installed("a", "1", "h", expected_a),
        "b": Installed("b", "2", None, 5.5),
        "c": Installed("c", "2", None, 2.0),
    }
    old.write_text("{not json")
    with pytest.raises(RecordUnreadable, match=r"install record .*c-1 is unreadable"):
        installed_state(tmp_path)


def test_a_broken_record_fails_plan_with_exit_1(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(work / "local", "zlib", "1").write_text("[]")
    code, out, err = run(capsys, "plan", "--catalog", "pkgs")
    assert code == 1 and out == ""
    assert "zlib-1 is unreadable: not a JSON object" in err
    assert "mason recover" in err


def test_graph_json_and_dot(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", "--catalog", "pkgs", "--all", "--format", "json")
    graph = json.loads(out)
    assert code == 0
    assert [n["name"] for n in graph["nodes"]] == ["app", "libpng", "tool", "zlib"]
    assert graph["edges"] == [
        {"from": "app", "to": "libpng", "kind": "normal"},
        {"from": "app", "to": "tool", "kind": "order-only"},
        {"from": "libpng", "to": "zlib", "kind": "normal"},
    ]
    code, out, _ = run(capsys, "graph", "--catalog", "pkgs", "libpng")
    assert '  "libpng" -> "zlib";\n' in out
    assert "app" not in out


def dot_accepts(dot_text: str) -> str:
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz (apt-get install graphviz) missing"
)
def test_graphviz_accepts_the_dot_output(
    work: Path, capsys: pytest.CaptureFixture[str], sage_catalog: Path
) -> None:
    _, out, _ = run(capsys, "graph", "--catalog", "pkgs", "--all")
    assert "<svg" in dot_accepts(out)
    _, out, _ = run(capsys, "graph", "--catalog", str(sage_catalog), "sagelib")
    svg = dot_accepts(out)
    assert "sagelib" in svg and "openblas" in svg


@pytest.mark.skipif(not any(DEMO_CATALOG.glob("*/type")), reason="no demo catalog yet")
def test_the_demo_catalog_answers_every_query(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = str(DEMO_CATALOG)
    code, out, _ = run(capsys, "list", "--catalog", demo, "--json")
    names = [row["name"] for row in json.loads(out)]
    assert code == 0 and names
    code, out, _ = run(capsys, "plan", "--catalog", demo, "--all", "--json")
    steps = json.loads(out)["steps"]
    assert code == 0
    assert sorted(s["name"] for s in steps) == sorted(names)
    position = {s["name"]: i for i, s in enumerate(steps)}
    for step in steps:
        assert all(position[p] < position[step["name"]] for p in step["prerequisites"])
    _, out, _ = run(capsys, "graph", "--catalog", demo, "--all", "--format", "json")
    for edge in json.loads(out)["edges"]:  # every edge of the graph is honoured by the plan
        assert position[edge["to"]] < position[edge["from"]], edge
    for name in names:
        assert run(capsys, "info", "--catalog", demo, name)[0] == 0
    code, out, _ = run(capsys, "graph", "--catalog", demo, "--all", "--format", "json")
    assert code == 0 and len(json.loads(out)["nodes"]) == len(names)


def test_plan_and_list_see_what_the_store_merged(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staged = work / "staged"
    (staged / "lib").mkdir(parents=True)
    (staged / "lib" / "libz.so").write_bytes(b"\x7fELF")
    prefix = str(work / "local")
    assert run(capsys, "merge", "--prefix", prefix, "zlib", "1.2.11.p0", str(staged))[0] == 0
    code, out, _ = run(capsys, "list", "--installed", "--prefix", prefix, "--json")
    assert code == 0 and [row["name"] for row in json.loads(out)] == ["zlib"]
    code, out, _ = run(capsys, "plan", "--catalog", "pkgs", "--prefix", prefix, "--json", "libpng")
    plan = json.loads(out)
    assert [s["name"] for s in plan["steps"]] == ["libpng"]
    assert plan["up_to_date"] == ["zlib"]
