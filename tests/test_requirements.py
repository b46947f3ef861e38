"""Requirement files read as pip reads them (mason.catalog.requirements)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mason.catalog.requirements import parse_requirements
from mason.python.errors import BadRequirementsFile
from mason.python.pip import download_wheels, read_requirements
from wheelfactory import make_wheel


def test_comments_continuations_and_markers() -> None:
    text = (
        "# a pip package\n"
        "demo >=1.0  # the newest one\n"
        "other ; python_version >= '3'\n"
        "third \\\n"
        "  ==2.0\n"
        "git+https://example.invalid/x@abc#egg=x\n"
    )
    parsed = parse_requirements(text, "requirements.txt")
    assert parsed.problems == []
    assert parsed.requirements == [
        "demo >=1.0",
        "other ; python_version >= '3'",
        "third   ==2.0",
        "git+https://example.invalid/x@abc#egg=x",
    ]


def test_includes_are_read_relative_to_the_including_file() -> None:
    files = {
        "requirements.txt": "-r more/base.txt\nlast\n",
        "more/base.txt": "--requirement=x.txt\nbase\n",
        "more/x.txt": "x\n",
    }
    parsed = parse_requirements(files["requirements.txt"], "requirements.txt", files.get)
    assert (parsed.requirements, parsed.problems) == (["x", "base", "last"], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("--dest=/elsewhere\n", "requirements.txt:1: '--dest=/elsewhere' is a pip option"),
        ("ok\n-e .\n", "requirements.txt:2: '-e .' is a pip option"),
        ("demo >= >=\n", "requirements.txt:1: 'demo >= >=' is neither a PEP 508 requirement"),
        ("-r ../../etc/reqs\n", "requirements.txt:1: -r ../../etc/reqs: includes stay inside"),
        ("-r missing.txt\n", "requirements.txt:1: -r missing.txt: no such file"),
        ("-r requirements.txt\n", "requirements.txt:1: -r requirements.txt: includes itself"),
    ],
)
def test_what_is_refused(text: str, message: str) -> None:
    files = {"requirements.txt": text}
    (problem,) = parse_requirements(text, "requirements.txt", files.get).problems
    assert str(problem).startswith(message)


def test_not_strict_keeps_what_packaging_cannot_read() -> None:
    parsed = parse_requirements(
        "pandoc_attributes >=8bc82f6d\n", "install-requires.txt", strict=False
    )
    assert (parsed.requirements, parsed.problems) == (["pandoc_attributes >=8bc82f6d"], [])


def test_a_bad_file_names_every_bad_line(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("--index-url=http://127.0.0.1:9/\ngood\n-c constraints.txt\n")
    with pytest.raises(BadRequirementsFile) as info:
        read_requirements(reqs)
    assert info.value.problems == (
        "requirements.txt:1: '--index-url=http://127.0.0.1:9/' is a pip option, not a requirement",
        "requirements.txt:3: '-c constraints.txt' is a pip option, not a requirement",
    )
    assert info.value.exit_code == 2


def test_pip_gets_the_included_requirements(tmp_path: Path) -> None:
    links = tmp_path / "links"
    make_wheel(links, "demo", "1.0", {"demo/__init__.py": ""})
    make_wheel(links, "other", "0.5", {"other.py": ""})
    make_wheel(links, "skipped", "1.0", {"skipped.py": ""})
    (tmp_path / "base.txt").write_text("other  # from the include\n")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("-r base.txt\ndemo==1.0  # pinned\nskipped ; python_version < '3'\n")
    got = download_wheels(reqs, tmp_path / "store", find_links=[links])
    assert [p.name for p in got] == ["demo-1.0-py3-none-any.whl", "other-0.5-py3-none-any.whl"]
