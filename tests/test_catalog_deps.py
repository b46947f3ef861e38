"""The dependency-line parser and the small file parsers, without a disk."""

from __future__ import annotations

import itertools
import random

import pytest

from mason.catalog.deps import parse_dependency_line, resolve_variables, split_tokens
from mason.catalog.files import decode, parse_checksums, parse_version
from mason.graph import find_cycles, topological_order

VARIABLES = {"PYTHON": "python3", "TOOLCHAIN": "setuptools pip", "BLAS": "openblas"}


def test_tokens_keep_make_calls_whole_and_split_at_bars() -> None:
    line = "a  $(findstring x y,$(OPTIONAL_INSTALLED_PACKAGES))|b ${PYTHON}\tc|d"
    assert split_tokens(line) == [
        "a",
        "$(findstring x y,$(OPTIONAL_INSTALLED_PACKAGES))",
        "|",
        "b",
        "${PYTHON}",
        "c",
        "|",
        "d",
    ]


@pytest.mark.parametrize(
    ("line", "normal", "order_only"),
    [
        ("", [], []),
        ("# no dependencies", [], []),
        ("zlib xz # the rest is a comment | foo", ["zlib", "xz"], []),
        ("| $(TOOLCHAIN)", [], ["setuptools", "pip"]),
        (
            "$(PYTHON) ${BLAS} | $(TOOLCHAIN) cython",
            ["python3", "openblas"],
            ["setuptools", "pip", "cython"],
        ),
    ],
)
def test_normal_and_order_only(line: str, normal: list[str], order_only: list[str]) -> None:
    parsed = parse_dependency_line(line, VARIABLES)
    assert (parsed.normal, parsed.order_only, parsed.problems) == (normal, order_only, [])


def test_conditional_file_and_force_tokens() -> None:
    parsed = parse_dependency_line(
        "FORCE $(SCRIPTS) src/*.py $(findstring nauty,$(OPTIONAL_INSTALLED_PACKAGES)) "
        "| $(filter a b,$(SAGE_OPTIONAL_INSTALLED_PACKAGES)) $(SAGE_LOCAL)/x-$(vers_x)",
        VARIABLES,
    )
    assert parsed.force
    assert parsed.file_deps == ["$(SCRIPTS)", "src/*.py"]  # order-only files are dropped
    assert parsed.conditional == ["nauty"]
    assert parsed.conditional_order_only == ["a", "b"]
    assert parsed.normal == parsed.order_only == parsed.problems == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a | b | c", "more than one '|'"),
        ("$(shell ls)", "unsupported make function"),
        ("$(findstring a,$(STANDARD_PACKAGES))", "only understands findstring over"),
        ("$(PYTHON", "unbalanced parentheses"),
    ],
)
def test_line_problems(line: str, problem: str) -> None:
    problems = parse_dependency_line(line, VARIABLES).problems
    assert len(problems) == 1 and problem in problems[0]


def test_variables_refer_to_each_other_and_loops_are_caught() -> None:
    resolved, problems = resolve_variables({"A": "$(B) x", "B": "${C}", "C": "c"})
    assert resolved == {"A": "c x", "B": "c", "C": "c"} and problems == []
    _, problems = resolve_variables({"A": "$(B)", "B": "$(A)"})
    assert problems == ["variable A refers to itself", "variable B refers to itself"]


@pytest.mark.parametrize(
    ("text", "version", "upstream", "level"),
    [
        ("1.2.11.p0\n", "1.2.11.p0", "1.2.11", 0),
        ("2.3.p12", "2.3.p12", "2.3", 12),
        ("1.9.0.15p0\n", "1.9.0.15p0", "1.9.0.15p0", None),
        ("0f25b00a8e24\n", "0f25b00a8e24", "0f25b00a8e24", None),
        ("1.0.pre", "1.0.pre", "1.0.pre", None),
    ],
)
def test_versions(text: str, version: str, upstream: str, level: int | None) -> None:
    assert parse_version(text) == (version, upstream, level, [])


@pytest.mark.parametrize("text", ["", "1.0 beta", "1.0/2", "1.0\n2.0", "-1"])
def test_bad_versions(text: str) -> None:
    assert parse_version(text)[3]


def test_checksums_substitute_the_upstream_version() -> None:
    checksums, problems = parse_checksums(
        "[checksums]\ntarball=foo-VERSION.whl\nsha256=" + "A" * 64 + "\nextra=ok\n", "2.0"
    )
    assert problems == []
    assert (checksums.tarball, checksums.sha256, checksums.sha1) == ("foo-2.0.whl", "A" * 64, None)
    _, problems = parse_checksums("tarball=x.tar.gz\nmd5=" + "0" * 32 + "\n", "1")
    assert problems == [(None, "no sha256= or sha1= line: the tarball could never be verified")]


def test_decode_reports_the_line_of_the_bad_byte() -> None:
    assert decode(b"ok\n") == ("ok\n", None)
    text, problem = decode(b"one\ntwo\nth\xffree\n")
    assert text is None and problem is not None and problem[0] == 3


@pytest.mark.parametrize("seed", range(20))
def test_cycles_and_order_agree_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [f"p{i}" for i in range(30)]
    graph = {n: rng.sample(nodes, rng.randint(0, 3)) for n in nodes}
    if seed % 2:  # half of them acyclic: edges only towards smaller indexes
        graph = {n: [d for d in deps if d < n] for n, deps in graph.items()}
    cycles = find_cycles(graph)
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(b in graph[a] for a, b in itertools.pairwise(cycle))
    if cycles:
        with pytest.raises(ValueError, match="dependency cycle"):
            topological_order(graph)
    else:
        order = topological_order(graph)
        position = {n: i for i, n in enumerate(order)}
        assert sorted(order) == sorted(nodes)
        assert all(position[d] < position[n] for n in nodes for d in graph[n])
