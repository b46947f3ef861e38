"""Handlers of ``install``, ``download``, ``log`` and ``report``."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mason.catalog import Catalog
from mason.commands.query import _catalog, installed_in, print_left_alone
from mason.commands.store import announce_recovery, existing_prefix
from mason.config import Settings, load_settings
from mason.errors import BadInput, DiskFull, MasonError, is_disk_full
from mason.layout import LOG_DIR, TMP_DIR

if TYPE_CHECKING:
    from mason.binarycache import CacheError, PushResult
    from mason.binarycache.session import CacheSession
    from mason.build.sandbox import Sandbox
    from mason.plan import Plan
    from mason.report import Recorder, RunInfo
    from mason.scheduler import Outcome

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
        jobs=getattr(args, "jobs", None),
        sandbox=getattr(args, "sandbox", None),
    )


def _sandbox(settings: Settings, catalog: Catalog, plan: Plan) -> Sandbox | None:
    """The build sandbox ``settings`` ask for; prints the one line of ``auto``'s fallback
    (``require`` raises :class:`~mason.build.sandbox.SandboxRequired` instead). A plan
    that runs no build script (only wheels) needs none under ``auto``: it does not wait
    for the trial run (40-100 ms of its start)."""
    from mason.build.sandbox import resolve, unsafe_path

    scripts = any(catalog[step.name].kind in ("normal", "script") for step in plan)
    if settings.sandbox == "auto" and not scripts:
        return None

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
    from mason.commands.cache import cache_options

    options = cache_options(args, settings)
    if not options.pulls and not options.makes_artifacts:
        yield None
        return
    from mason.binarycache.key import keys_for  # the registry client: only when used
    from mason.binarycache.session import CacheSession

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
    from mason.build.sandbox import probe_ahead
    from mason.commands.display import display
    from mason.commands.logtail import following
    from mason.commands.venvstate import reconciled
    from mason.install import Installer, InstallFailed, InstallOptions
    from mason.plan import make_plan
    from mason.report import Recorder, RunInfo
    from mason.store import Prefix, require_writable
    from mason.trees import Trees, locate_venv

    settings = _settings(args)
    probe_ahead(settings.sandbox)  # the sandbox's trial run overlaps the planning
    catalog = _catalog(settings)
    prefix = Prefix(settings.prefix)
    require_writable(prefix.root)
    if prefix.interrupted():
        with prefix.write_locked():  # an interrupted change is finished or undone first
            pass
        announce_recovery([prefix])
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
    sandbox = _sandbox(settings, catalog, plan)
    options = InstallOptions(
        jobs=settings.jobs,
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
        display(sys.stdout, verbose=args.verbose) as view,
        following(prefix.root / LOG_DIR, view) as sink,
        binary_cache(args, settings, catalog, plan, pushes) as cache,
    ):
        recorder = Recorder(sink)
        info = RunInfo(
            started=time.time(),
            command=("mason", *getattr(args, "argv", ["install"])),
            prefix=str(prefix.root),
            jobs=settings.jobs,
            dependencies={s.name: s.prerequisites for s in plan},
        )
        try:
            outcome = Installer(catalog, prefix, options, recorder, cache=cache).run(plan)
        finally:
            _save_run(recorder, prefix.root, info)
    stopped = _stopped_builds(outcome) if outcome.interrupted else set()
    for name, error in outcome.failed.items():
        if name in stopped:
            continue
        print(f"\nmason: error: {error}", file=sys.stderr)
        if isinstance(error, InstallFailed):
            # a bug in mason: its traceback (at the end of the log) only with --debug
            tail = [] if error.internal else log_tail(error.log, LOG_TAIL)
            if tail:
                print(f"--- last {len(tail)} lines of {error.log} ---", file=sys.stderr)
                print("\n".join(tail), file=sys.stderr)
                print(f"--- full log: {error.log} ---", file=sys.stderr)
            if error.internal and getattr(args, "debug", False):
                print(error.traceback, end="", file=sys.stderr)
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
    _kept_summary(prefix.root)
    if outcome.interrupted:
        return _interrupted(outcome, stopped)
    # Bad input found before the run (usage, catalog, unknown package) raised above: exit 2.
    # Once packages run, any failure is "a package failed", whatever its cause (a corrupt
    # archive fails its package like a failing configure does): exit 1; a lock not taken
    # within --lock-timeout: exit 2; a bug in mason (not a MasonError): exit 3.
    failed_pushes = {n: e for n, e in pushes.items() if isinstance(e, Exception)}
    if pushes:
        print(f"pushed {len(pushes) - len(failed_pushes)} artifact(s) to the binary cache")
    for name, failure in failed_pushes.items():
        print(f"mason: error: {name}: push failed: {failure}", file=sys.stderr)
    if outcome.ok:
        return 1 if failed_pushes else 0
    return max((_status(e) for e in outcome.failed.values()), default=1)


def _status(error: BaseException) -> int:
    from mason.install import InstallFailed
    from mason.store import LockTimeout

    if isinstance(error, InstallFailed):
        return error.exit_code if error.internal or not isinstance(error.cause, LockTimeout) else 2
    return 1


def _stopped_builds(outcome: Outcome) -> set[str]:
    """Packages whose build mason itself stopped (its script ended by SIGTERM/SIGKILL)."""
    import signal

    from mason.build.errors import ScriptFailed
    from mason.install import InstallFailed
    from mason.install.claim import StoppedWaiting

    out = set()
    for name, error in outcome.failed.items():
        cause = error.cause if isinstance(error, InstallFailed) else error
        killed = isinstance(cause, ScriptFailed) and -cause.status in (
            signal.SIGTERM,
            signal.SIGKILL,
        )
        if killed or isinstance(cause, StoppedWaiting):
            out.add(name)
    return out


def _interrupted(outcome: Outcome, stopped: set[str]) -> int:
    """What a Ctrl-C or SIGTERM left done and not done; exit 128 + the signal."""
    import signal

    name = signal.Signals(outcome.signal).name if outcome.signal else "SIGINT"

    def listed(names: Iterable[str]) -> str:
        return ", ".join(sorted(names)) or "none"

    print(f"mason: interrupted by {name}; no merge was cut short", file=sys.stderr)
    print(f"  installed: {listed(outcome.done)}", file=sys.stderr)
    print(f"  stopped while building: {listed(stopped)}", file=sys.stderr)
    print(f"  not started: {listed([*outcome.not_started, *outcome.skipped])}", file=sys.stderr)
    # A further Ctrl-C from here on would only kill the exiting interpreter (its handlers
    # are reset while it shuts down) and change the exit status: block them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    return 128 + (outcome.signal or signal.SIGINT)


def _save_run(recorder: Recorder, root: Path, info: RunInfo) -> None:
    """Keep the run for ``mason report``; a full disk costs the report, not the run."""
    try:
        recorder.save(root, info)
    except OSError as e:
        if not is_disk_full(e):
            raise
        full = DiskFull(root, what="saving the run log for `mason report`")
        print(f"mason: warning: {full}", file=sys.stderr)


def _kept_summary(prefix: Path) -> None:
    """How much the kept build directories (this run's failures included) weigh, and where."""
    from mason.builddirs import human, kept, release_all

    release_all()  # the run is over: its failed builds' directories are kept, not in use
    found = kept(prefix)
    if found:
        size = human(sum(d.size for d in found))
        print(
            f"kept {len(found)} build director{'y' if len(found) == 1 else 'ies'} ({size}) "
            f"in {prefix / TMP_DIR}: `mason clean --builds` removes them"
        )


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
            if isinstance(e, MasonError) and e.hint:
                print(f"mason: hint: {e.hint}", file=sys.stderr)
            failures += 1
            continue
        print(f"[{name}-{spec.version}] ok: {path}")
    return 1 if failures else 0


def log(args: argparse.Namespace) -> int:
    """``mason log PKG``: print the package's build log."""
    settings = _settings(args)
    logs = existing_prefix(settings.prefix) / LOG_DIR
    found = sorted(logs.glob(f"{args.package}-*.log"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise BadInput(f"no build log for {args.package} in {logs}")
    if not args.follow:
        sys.stdout.write(found[-1].read_text(errors="replace"))
        return 0
    _follow(found[-1], settings.prefix, args.package)
    return 0


def _follow(log: Path, prefix: Path, package: str, poll: float = 0.2) -> None:
    """``mason log -f``: the log as it grows, until no mason builds the package any more."""
    from mason.builddirs import building

    offset = 0
    while True:
        running = building(prefix, package)  # before reading: nothing written is missed
        size = log.stat().st_size if log.exists() else 0
        if size < offset:
            offset = 0  # the build started again and emptied its log
        if size > offset:
            with log.open("rb") as f:
                f.seek(offset)
                data = f.read(size - offset)
            offset += len(data)
            sys.stdout.write(data.decode(errors="replace"))
            sys.stdout.flush()
        if not running:
            return
        time.sleep(poll)


def report(args: argparse.Namespace) -> int:
    """``mason report``: the last run as an HTML page, or Chrome trace-event JSON."""
    import json

    from mason.report import load_run

    settings = _settings(args)
    prefix = existing_prefix(settings.prefix)
    run = load_run(prefix)
    if args.format == "trace":
        from mason.reporttrace import render_trace

        out = Path(args.output or "mason-trace.json")
        out.write_text(json.dumps(render_trace(run)), encoding="utf-8")
    else:
        from mason.reporthtml import render_html

        out = Path(args.output or "mason-report.html")
        out.write_text(render_html(run, prefix / LOG_DIR), encoding="utf-8")
    print(f"wrote {out}")
    return 0


__all__ = ["Catalog", "download", "install", "log", "report"]
