"""mason's command line: the only place that turns errors into messages and exit codes.

The parser is built from cheap standard-library pieces; each command's handler lives in
``mason.commands.<module>`` and is imported only when that command runs, so that
``mason --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mason import __version__
from mason.errors import INTERNAL_ERROR_EXIT

if TYPE_CHECKING:
    from mason.store.locks import LockWait

# command -> "module:function" under mason.commands
HANDLERS: dict[str, str] = {
    "plan": "query:plan",
    "list": "query:list_packages",
    "info": "query:info",
    "graph": "query:graph",
    "merge": "store:merge",
    "owner": "store:owner",
    "files": "store:files",
    "verify": "store:verify",
    "recover": "store:recover",
    "install": "install:install",
    "download": "install:download",
    "uninstall": "remove:uninstall",
    "log": "install:log",
    "report": "install:report",
    "selftest": "selftest:selftest",
    "new": "recipe:new",
    "fix-checksum": "recipe:fix_checksum",
    "update": "recipe:update",
    "clean": "clean:clean",
    "pip": "pip:pip",
    "cache": "cache:main",
}


def _global_flags(p: argparse.ArgumentParser, *, default: object = None) -> None:
    """``--debug`` and ``--lock-timeout``: before the command, or after it (``default``
    SUPPRESS there, so that a sub-command does not reset what was given before it)."""
    p.add_argument(
        "--debug",
        action="store_true",
        default=False if default is None else default,
        help="show the traceback of an internal error (a bug in mason)",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        metavar="S",
        default=default,
        help="give up waiting for a prefix lock after S seconds (exit 2; default: wait)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    _global_flags(p, default=argparse.SUPPRESS)
    p.add_argument(
        "--catalog", metavar="DIR", help="catalog directory (one sub-directory per recipe)"
    )
    p.add_argument("--prefix", metavar="DIR", help="install prefix (default ./local)")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _job_count(text: str) -> int:
    """``-j N``: a whole number of at least 1 (``-j 0`` is refused, never taken as 1)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a number of jobs of at least 1, not {text!r}")
    return int(text)


def _jobs(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("-j", "--jobs", type=_job_count, metavar="N", help=help)


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("packages", nargs="*", metavar="PKG")
    p.add_argument("--all", action="store_true", help="the whole catalog")


def _upstream(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--upstream", metavar="DIR", help="source cache (default: upstream/ beside the catalog)"
    )


def _sources(p: argparse.ArgumentParser) -> None:
    _upstream(p)
    p.add_argument(
        "--mirror",
        action="append",
        dest="mirrors",
        metavar="URL|DIR",
        help="where to fetch sources from (repeatable, tried in order)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mason",
        description="Build a software stack from source into one shared prefix, race-free.",
    )
    parser.add_argument("--version", action="version", version=f"mason {__version__}")
    _global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p)
        return p

    p = add("install", "build and install packages and their missing or out-of-date dependencies")
    _selection(p)
    _sources(p)
    _jobs(p, "global job budget (default: MASON_JOBS, jobs in mason.toml, else 1)")
    p.add_argument("-k", "--keep-going", action="store_true", help="go on past failures")
    p.add_argument(
        "--force", action="store_true", help="rebuild the named packages even if up to date"
    )
    p.add_argument("--check", action="store_true", help="run spkg-check")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show the builds' output, prefixed by package"
    )
    p.add_argument(
        "--allow-overwrite", action="store_true", help="let packages overwrite each other's files"
    )
    p.add_argument("--python", metavar="EXE", help="interpreter for the venv")
    p.add_argument("--venv", metavar="DIR", help="separate venv (default: the prefix itself)")
    p.add_argument(
        "--find-links", action="append", metavar="DIR|URL", help="where pip packages come from"
    )
    p.add_argument("--index-url", metavar="URL", help="package index for pip packages")
    p.add_argument(
        "--sandbox",
        choices=["auto", "require", "off"],
        help="run builds in the bubblewrap sandbox: where it works (auto, the default), "
        "always (require: exit 2 where it cannot), never (off)",
    )
    _cache_flags(p, push=True)

    p = add("uninstall", "remove installed packages")
    p.add_argument("packages", nargs="+", metavar="PKG")
    p.add_argument("--force", action="store_true", help="even if installed packages depend on them")

    p = add("plan", "what install would do, in order, and why")
    _selection(p)
    p.add_argument("--force", action="store_true", help="as install --force would")
    p.add_argument("--check", action="store_true", help="as install --check would")
    _cache_flags(p, push=False)
    _json(p)

    p = add("list", "list the catalog's packages, or the installed ones")
    p.add_argument("--installed", action="store_true", help="installed packages (from the records)")
    p.add_argument("--type", choices=["base", "standard", "optional", "experimental"])
    p.add_argument("--kind", choices=["normal", "pip", "wheel", "script", "none"])
    _json(p)

    p = add("info", "everything the catalog says about one package")
    p.add_argument("package", metavar="PKG")
    _json(p)

    p = add("files", "the files an installed package owns")
    p.add_argument("package", metavar="PKG")
    _json(p)

    p = add("owner", "which installed package owns each path")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _json(p)

    p = add("graph", "the dependency graph")
    _selection(p)
    p.add_argument("--format", choices=["dot", "json"], default="dot")

    p = add("verify", "compare the prefix with the records (exit 1 on any problem)")
    p.add_argument("packages", nargs="*", metavar="PKG")
    _jobs(p, "processes checking the files (default: MASON_JOBS, jobs in mason.toml, else 1)")
    _json(p)

    p = add("download", "fetch and verify sources only")
    _selection(p)
    _sources(p)

    p = add("recover", "finish or undo interrupted work in the prefix")
    _json(p)

    p = add("merge", "install an already staged tree (paths relative to the prefix) as a package")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("staged", metavar="DIR")
    p.add_argument(
        "--allow-overwrite", action="store_true", help="replace files owned by other packages"
    )
    p.add_argument("--copy", action="store_true", help="copy instead of moving (keep DIR)")
    _jobs(p, "hash the staged files on N cores (default: the cores mason may use)")
    _json(p)

    p = add("log", "show a package's build log")
    p.add_argument("package", metavar="PKG")
    p.add_argument(
        "-f", "--follow", action="store_true", help="follow a running build's log until it ends"
    )

    p = add("pip", "run pip on the venv under its lock, then bring the records up to date")
    p.add_argument("pip_args", nargs=argparse.REMAINDER, metavar="ARGS", help="pip's arguments")

    p = add("report", "write an HTML timeline of the last run (or a Chrome trace)")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="default: mason-report.html / mason-trace.json"
    )
    p.add_argument(
        "--format", choices=["html", "trace"], default="html", help="trace: Chrome trace-event JSON"
    )

    p = add("selftest", "check that mason's guarantees hold on a filesystem (exit 1 if not)")
    p.add_argument(
        "--dir", metavar="DIR", help="where to test (default: the directory holding the prefix)"
    )
    p.add_argument("--workers", type=int, default=8, help="processes of the race stress")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the race stress")
    _json(p)
    _recipe_tools(add)
    _cache_commands(sub, _common)

    p = add(
        "clean", "remove kept build directories, unneeded sources, the cache (default: --builds)"
    )
    p.add_argument(
        "--builds", action="store_true", help="build directories of failed or killed runs"
    )
    p.add_argument("--sources", action="store_true", help="files in upstream/ no recipe names")
    p.add_argument(
        "--cache", action="store_true", help="the user's cache (unpacked wheels, byte-code)"
    )
    p.add_argument("--all", action="store_true", help="all of these")
    _upstream(p)
    return parser


def _recipe_tools(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``new``, ``fix-checksum``, ``update``: they write recipes (mason.commands.recipe)."""
    p = add("new", "write a recipe skeleton, its build steps guessed from the source")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--type", default="optional", choices=["base", "standard", "optional", "experimental"]
    )
    p.add_argument("--source", metavar="FILE|URL", help="the source archive (copied to upstream/)")
    p.add_argument("--version", metavar="V", help="default: from the source's file name")
    _upstream(p)

    p = add("fix-checksum", "rewrite checksums.ini from the source file in upstream/")
    p.add_argument("packages", nargs="+", metavar="PKG")
    _upstream(p)

    p = add("update", "bump a recipe to a new version, with the new source's checksums")
    p.add_argument("package", metavar="PKG")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--source", metavar="FILE|URL", help="the new source (copied to upstream/)")
    _upstream(p)


def _cache_flags(p: argparse.ArgumentParser, *, push: bool) -> None:
    """``--cache auto|only|never`` and ``--cache-url`` (and ``--push``) of install / plan."""
    p.add_argument(
        "--cache",
        choices=["auto", "only", "never"],
        help="binary cache use (default: auto when a cache URL is configured)",
    )
    p.add_argument("--cache-url", metavar="oci://HOST[:PORT]/REPO", help="the binary cache")
    if push:
        p.add_argument("--push", action="store_true", help="push each build to the binary cache")


def _cache_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``mason cache key|push|ls|why-miss`` (the binary cache, docs/cache.md)."""
    help = "the binary cache on an OCI registry"
    cache = sub.add_parser("cache", help=help, description=help)
    commands = cache.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=help)
        common(p)
        p.add_argument("--cache-url", metavar="oci://HOST[:PORT]/REPO", help="the registry")
        return p

    p = add("key", "the cache key of a package and every input it is the hash of")
    p.add_argument("package", metavar="PKG")
    _json(p)
    p = add("push", "send artifacts built here to the registry")
    _selection(p)
    p.add_argument("--sign", metavar="KEY", help="sign with this ssh private key")
    p = add("ls", "the artifacts in the registry")
    _json(p)
    p = add("why-miss", "which key input differs from the nearest artifact in the registry")
    p.add_argument("package", metavar="PKG")


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, func = HANDLERS[command].split(":")
    mod = importlib.import_module(f"mason.commands.{module}")
    handler: Callable[[argparse.Namespace], int] = getattr(mod, func)
    return handler


def _lock_wait(wait: LockWait) -> None:
    holder = f"held by {wait.holder}" if wait.holder is not None else "holder unknown"
    print(f"mason: waiting for the {wait.mode} lock {wait.path} ({holder})", file=sys.stderr)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; for ``mason pip`` every argument mason does not know is pip's
    (``mason pip --version``: argparse's REMAINDER alone would refuse a leading option)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "pip":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "pip":
        args.pip_args = [*unknown, *args.pip_args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run mason; return the exit status (0 ok, 1 a package failed, 2 bad input or a lock
    not taken within ``--lock-timeout``, 3 an internal error: a bug in mason)."""
    from mason.errors import MasonError
    from mason.store.locks import LockPolicy, set_policy

    args = _parse(argv)
    if args.lock_timeout is not None and args.lock_timeout < 0:
        print("mason: error: --lock-timeout takes a number of seconds >= 0", file=sys.stderr)
        return 2
    set_policy(LockPolicy(timeout=args.lock_timeout, on_wait=_lock_wait))
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the run log (mason report)
    try:
        return _handler(args.command)(args)
    except MasonError as e:
        print(f"mason: error: {e}", file=sys.stderr)
        if e.hint:
            print(f"mason: hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mason: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in mason: say so, never lose the traceback
        print(f"mason: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        else:
            print("mason: hint: please report it; --debug shows the traceback", file=sys.stderr)
        return INTERNAL_ERROR_EXIT
