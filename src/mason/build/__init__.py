"""Building one package: environment, sdh_* helpers, patches, scripts, staged tree.

Typical use, once the sources are extracted into ``<build_dir>/src``::

    spec = BuildSpec(name, version, recipe_dir, prefix, build_dir, destdir, log_path,
                     extra_env={"MAKEFLAGS": jobserver.makeflags()})
    prepare_build_dir(spec)
    apply_patches(spec.package, spec.recipe_dir, spec.build_dir / "src")
    before = snapshot_prefix(prefix)
    run_build(spec, pass_fds=jobserver.pass_fds())
    check_prefix_untouched(spec.package, before)
    tree = staged_tree(spec.package, destdir, prefix)   # hand this to the store

Decisions (where SageMath and mason differ, or the spec is silent):

- ``PKG_NAME`` is ``name-version`` and ``PKG_BASE`` the name, as in sage-spkg; every
  helper's message names ``$PKG_NAME``.
- Builds are hermetic for downloads: proxies point at 127.0.0.1:9, ``no_proxy`` is
  removed, ``PIP_NO_INDEX=1`` and ``PIP_CONFIG_FILE=/dev/null`` (a user's pip.conf
  ``find-links`` or index must not leak in).
- ``PYTHONDONTWRITEBYTECODE`` is removed: ``setup.py install --root`` byte-compiles into
  the staged tree (claimed files), not later into the live venv at the first import.
- ``sdh_store_wheel`` only stores a wheel (a file of the staged tree under
  ``$SAGE_SPKG_WHEELS``); ``sdh_store_and_pip_install_wheel`` and ``sdh_pip_install``
  also list it in ``$MASON_WHEELS_TO_INSTALL`` and mason stages it into the venv after
  the build (:mod:`mason.build.wheels`). ``sdh_pip_uninstall`` is a no-op.
- With ``BuildSpec.sandbox`` (:mod:`mason.build.sandbox`) the build scripts cannot
  change the live trees at all: what they tried is read back per path
  (:mod:`mason.build.capture`) and judged (:mod:`mason.build.verdict`); ``HOME`` and
  ``TMPDIR`` are private to the build directory either way.
- Without it, the stray-write check (:func:`snapshot_prefix` /
  :func:`check_prefix_untouched`) cannot tell another package's concurrent merge from this
  build's writes; the caller passes ``ignore`` for paths merged meanwhile.
"""

from __future__ import annotations

from mason.build.env import BLOCKED_PROXY, BuildSpec, build_environment, sage_root
from mason.build.errors import (
    BadFragment,
    BuildError,
    PatchFailed,
    ScriptFailed,
    StagedOutsidePrefix,
    WroteIntoPrefix,
    log_tail,
)
from mason.build.patches import apply_patches, recipe_patches
from mason.build.scripts import (
    ALL_SCRIPTS,
    BUILD_SCRIPTS,
    ScriptName,
    check_fragments,
    copy_recipe,
    make_staged_prefix,
    prepare_build_dir,
    run_build,
    run_script,
    script_command,
    sdh_path,
)
from mason.build.staged import (
    PrefixSnapshot,
    check_prefix_untouched,
    prefix_changes,
    snapshot_prefix,
    staged_tree,
)
from mason.layout import WHEELS_DIR

__all__ = [
    "ALL_SCRIPTS",
    "BLOCKED_PROXY",
    "BUILD_SCRIPTS",
    "WHEELS_DIR",
    "BadFragment",
    "BuildError",
    "BuildSpec",
    "PatchFailed",
    "PrefixSnapshot",
    "ScriptFailed",
    "ScriptName",
    "StagedOutsidePrefix",
    "WroteIntoPrefix",
    "apply_patches",
    "build_environment",
    "check_fragments",
    "check_prefix_untouched",
    "copy_recipe",
    "log_tail",
    "make_staged_prefix",
    "prefix_changes",
    "prepare_build_dir",
    "recipe_patches",
    "run_build",
    "run_script",
    "sage_root",
    "script_command",
    "sdh_path",
    "snapshot_prefix",
    "staged_tree",
]
