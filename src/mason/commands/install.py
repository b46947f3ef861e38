"""Handlers of ``install``, ``download``, ``log`` and ``report``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mason.catalog import Catalog
from mason.commands.query import _catalog, installed_in, print_left_alone
from mason.config import Settings, load_settings
from mason.errors import BadInput, UsageError
from mason.layout import LOG_DIR

if TYPE_CHECKING:
    from mason.binarycache import CacheError, PushResult
    from mason.binarycache.session import CacheSession
    from mason.build.sandbox import Sandbox
    from mason.plan import Plan

LOG_TAIL = 40


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        catalog=args.catalog,
        prefix=args.prefix,
        upstream=getattr(args, "upstream", None),
        mirrors=getattr(args, "mirrors", None),
        python=getattr(args, "python", None),
        venv=getattr(args, "venv", None),
        find_links=getattr(args, "find_links", None),
        index_url=getattr(args, "index_url", None),
        sandbox=getattr(args, "sandbox", None),
    )


def _sandbox(settings: Settings) -> Sandbox | None:
    """The build sandbox ``settings`` ask for; prints the one line of ``auto``'s fallback
    (``require`` raises :class:`~mason.build.sandbox.SandboxRequired` instead)."""
    from mason.build.sandbox import resolve, unsafe_path

    trees = [settings.prefix, *([settings.venv] if settings.venv else [])]
    sandbox, why = resolve(settings.sandbox, unsafe_path(trees))
    if why is not None:
        print(f"mason: {why.notice()}", file=sys.stderr)
    return sandbox


@contextmanager
def binary_cache(
    args: argparse.Namespace,
    settings: Settings,
    catalog: Catalog,
    plan: Plan,
    pushes: dict[str, PushResult | CacheError],
) -> Iterator[CacheSession | None]:
    """The run's binary cache session (None: no cache configured, no ``--push``); what
    each push did goes into ``pushes`` when it ends."""
    from mason.binarycache.key import keys_for
    from mason.binarycache.session import CacheSession
    from mason.commands.cache import cache_options

    options = cache_options(args, settings)
    if not options.pulls and not options.makes_artifacts:
        yield None
        return
    keys = keys_for(catalog, plan.requested, installed_in(settings))
    with tempfile.TemporaryDirectory(prefix="mason-artifacts-") as tmp:
        session = CacheSession(options, keys, settings.cache or Path(tmp))
        try:
            yield session
        finally:
            pushes.update(session.close())


def install(args: argparse.Namespace) -> int:
    """``mason install``: build and install packages and what they need."""
    from mason.build import log_tail
    from mason.commands.display import display
    from mason.commands.venvstate import reconciled
    from mason.install import Installer, InstallFailed, InstallOptions
    from mason.plan import make_plan
    from mason.report import Recorder
    from mason.store import Prefix
    from mason.trees import Trees, locate_venv

    if args.jobs < 1:
        raise UsageError(f"-j takes a number of jobs of at least 1, not {args.jobs}")
    settings = _settings(args)
    catalog = _catalog(settings)
    prefix = Prefix(settings.prefix)
    plan = make_plan(
        catalog,
        args.packages,
        all=args.all,
        installed=installed_in(settings),  # refuses a --venv other than the prefix's
        force=args.force,
        check=args.check,
    )
    print_left_alone(plan)
    if not plan.steps:
        up_to_date = len(plan.needed) - len(plan.left_alone)
        print(f"nothing to do: {up_to_date} package(s) up to date")
        return 0
    sandbox = _sandbox(settings)
    options = InstallOptions(
        jobs=args.jobs,
        keep_going=args.keep_going,
        check=args.check,
        allow_overwrite=args.allow_overwrite,
        upstream=settings.upstream,
        mirrors=settings.mirrors,
        python=settings.python,
        find_links=settings.find_links,
        index_url=settings.index_url,
        venv=settings.venv,
        cache=settings.cache,
        sandbox=sandbox,
    )
    pushes: dict[str, PushResult | CacheError] = {}
    with (
        display(sys.stdout) as sink,
        binary_cache(args, settings, catalog, plan, pushes) as cache,
    ):
        recorder = Recorder(sink)
        try:
            outcome = Installer(catalog, prefix, options, recorder, cache=cache).run(plan)
        finally:
            recorder.save(prefix.root)
    for error in outcome.failed.values():
        print(f"\nmason: error: {error}", file=sys.stderr)
        if isinstance(error, InstallFailed):
            tail = log_tail(error.log, LOG_TAIL)
            if tail:
                print(f"--- last {len(tail)} lines of {error.log} ---", file=sys.stderr)
                print("\n".join(tail), file=sys.stderr)
                print(f"--- full log: {error.log} ---", file=sys.stderr)
            if error.hint:
                print(f"mason: hint: {error.hint}", file=sys.stderr)
    # The run's merges changed the venv's dist-info: the listing follows them now, so that
    # the next command finds it up to date (and writes nothing).
    reconciled(Trees.open(settings.prefix, settings.venv))
    done, failed = len(outcome.done), len(outcome.failed)
    skipped = len(outcome.skipped) + len(outcome.not_started)
    venv = locate_venv(settings.prefix, settings.venv).root
    where = f"prefix {prefix.root}" + (f", venv {venv}" if venv != prefix.root else "")
    print(f"installed {done}, failed {failed}, skipped {skipped} ({where})")
    # Bad input found before the run (usage, catalog, unknown package) raised above: exit 2.
    # Once packages run, any failure is "a package failed", whatever its cause (a corrupt
    # archive fails its package like a failing configure does): exit 1.
    failed_pushes = {n: e for n, e in pushes.items() if isinstance(e, Exception)}
    if pushes:
        print(f"pushed {len(pushes) - len(failed_pushes)} artifact(s) to the binary cache")
    for name, failure in failed_pushes.items():
        print(f"mason: error: {name}: push failed: {failure}", file=sys.stderr)
    return 0 if outcome.ok and not failed_pushes else 1


def download(args: argparse.Namespace) -> int:
    """``mason download``: fetch and verify the sources of packages (and what they need)."""
    from mason.fetch import fetch
    from mason.install import default_upstream, source_spec
    from mason.plan import make_plan

    settings = _settings(args)
    catalog = _catalog(settings)
    names = make_plan(catalog, args.packages, all=args.all).needed
    upstream = settings.upstream or default_upstream(catalog)
    failures = 0
    for name in names:
        spec = source_spec(catalog.recipes[name])
        if spec is None:
            continue
        try:
            path = fetch(spec, upstream, settings.mirrors)
        except BadInput:
            raise
        except Exception as e:  # report each package, go on with the others
            print(f"[{name}] failed: {e}", file=sys.stderr)
            failures += 1
            continue
        print(f"[{name}-{spec.version}] ok: {path}")
    return 1 if failures else 0


def log(args: argparse.Namespace) -> int:
    """``mason log PKG``: print the package's build log."""
    settings = _settings(args)
    logs = settings.prefix / LOG_DIR
    found = sorted(logs.glob(f"{args.package}-*.log"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise BadInput(f"no build log for {args.package} in {logs}")
    sys.stdout.write(found[-1].read_text(errors="replace"))
    return 0


def report(args: argparse.Namespace) -> int:
    """``mason report``: write an HTML timeline of the last run."""
    from mason.report import load_run, render_html

    settings = _settings(args)
    out = Path(args.output)
    out.write_text(render_html(load_run(settings.prefix)), encoding="utf-8")
    print(f"wrote {out}")
    return 0


__all__ = ["Catalog", "download", "install", "log", "report"]
