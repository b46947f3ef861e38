# mason's build helpers: the sdh_* functions of SageMath's build/bin/sage-dist-helpers,
# same names and behaviour, for recipe fragments (spkg-*.in).
#
# mason sources this file, then the fragment, in one bash process WITHOUT `set -e`:
# a failing command is fatal only through `|| sdh_die` or one of these helpers.
# Every failure message names the package ($PKG_NAME).
#
# The wheel helpers keep SageMath 9.8's meaning: sdh_store_wheel only STORES the wheel
# (moves it into $SAGE_DESTDIR$SAGE_SPKG_WHEELS, a file of the package's staged tree);
# sdh_store_and_pip_install_wheel and sdh_pip_install store it AND ask mason to install
# it. Differences from SageMath, on purpose (docs/recipes.md has the whole table):
# - no pip runs on the venv here: "install" appends the stored wheel's file name to
#   $MASON_WHEELS_TO_INSTALL; after the build mason stages each listed wheel into the
#   package's staged tree, which is merged (and recorded) as one transaction;
# - sdh_pip_install with build isolation never falls back to --no-build-isolation: the
#   build requirements come from the wheel store only;
# - sdh_pip_uninstall is a no-op (mason's store removes a package's files).

# sdh_die MESSAGE...  (or the message on stdin): print it to stderr and end the script.
sdh_die() {
    if [ $# -gt 0 ]; then
        printf '%s\n' "$*" >&2
    else
        cat >&2
    fi
    exit 1
}

# sdh_check_vars VAR...: die naming every variable that is unset or empty.
sdh_check_vars() {
    local missing=()
    local var
    for var in "$@"; do
        if [ -z "${!var:-}" ]; then
            missing+=("$var")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        sdh_die "Error building ${PKG_NAME:-package}: the variable(s) ${missing[*]} must be set"
    fi
}

# sdh_configure [ARG...]: ./configure into $SAGE_INST_LOCAL with shared libraries only;
# a configure that rejects the autoconf options is run again without them.
sdh_configure() {
    echo "Configuring $PKG_NAME"
    # configure scripts run by bash (some are not portable to other shells)
    if [ -z "${CONFIG_SHELL:-}" ]; then
        export CONFIG_SHELL="$(command -v bash)"
    fi
    ./configure --prefix="$SAGE_INST_LOCAL" \
        --libdir="$SAGE_INST_LOCAL/lib" \
        --disable-static \
        --disable-maintainer-mode \
        --disable-dependency-tracking \
        "$@" ||
        ./configure --prefix="$SAGE_INST_LOCAL" --libdir="$SAGE_INST_LOCAL/lib" \
            --disable-static "$@"
    if [ $? -ne 0 ]; then
        if [ -f "$PWD/config.log" ]; then
            sdh_die "Error configuring $PKG_NAME
Details are in the file
    $PWD/config.log"
        fi
        sdh_die "Error configuring $PKG_NAME"
    fi
}

# sdh_make [ARG...]: $MAKE with the arguments (MAKEFLAGS carries mason's jobserver).
sdh_make() {
    echo "Building $PKG_NAME"
    ${MAKE:-make} "$@" || sdh_die "Error building $PKG_NAME"
}

# sdh_make_check [ARG...]: $MAKE check.
sdh_make_check() {
    echo "Checking $PKG_NAME"
    ${MAKE:-make} check "$@" || sdh_die "Failures checking $PKG_NAME"
}

# sdh_make_install [ARG...]: $MAKE install into the staging directory.
sdh_make_install() {
    echo "Installing $PKG_NAME"
    ${MAKE:-make} install DESTDIR="$SAGE_DESTDIR" "$@" ||
        sdh_die "Error installing $PKG_NAME"
}

# sdh_cmake [ARG...]: cmake for the current directory, installing into $SAGE_INST_LOCAL.
sdh_cmake() {
    echo "Configuring $PKG_NAME with cmake"
    cmake . -DCMAKE_INSTALL_PREFIX="$SAGE_INST_LOCAL" \
        -DCMAKE_INSTALL_LIBDIR=lib \
        "$@"
    if [ $? -ne 0 ]; then
        sdh_die "Error configuring $PKG_NAME with cmake"
    fi
}

# sdh_install [-T] SRC... DEST: copy SRC (files or directories) to DEST, a path in the
# live prefix; the copy is written to $SAGE_DESTDIR$DEST. With -T, DEST is the target
# name of the single SRC instead of a directory to copy into.
sdh_install() {
    local as_target=0
    if [ "${1:-}" = "-T" ]; then
        as_target=1
        shift
    fi
    if [ $# -lt 2 ]; then
        sdh_die "Error installing $PKG_NAME: sdh_install needs at least one source and a destination"
    fi
    local sources=("${@:1:$#-1}")
    local dest="${!#}"
    local src
    for src in "${sources[@]}"; do
        if [ ! -e "$src" ] && [ ! -L "$src" ]; then
            sdh_die "Error installing $PKG_NAME: source file/directory $src does not exist"
        fi
    done
    if [ -z "$dest" ]; then
        sdh_die "Error installing $PKG_NAME: no destination given to sdh_install"
    fi
    dest="${SAGE_DESTDIR}${dest}"
    if [ $as_target -eq 1 ] && [ ${#sources[@]} -ne 1 ]; then
        sdh_die "Error installing $PKG_NAME: sdh_install -T takes exactly one source"
    fi
    if [ $as_target -eq 0 ] && [ -e "$dest" ] && [ ! -d "$dest" ]; then
        sdh_die "Error installing $PKG_NAME: destination $dest exists and is not a directory"
    fi
    local dest_dir="$dest"
    if [ $as_target -eq 1 ]; then
        dest_dir="$(dirname "$dest")"
    fi
    mkdir -p "$dest_dir" || sdh_die "Error installing $PKG_NAME: cannot create $dest_dir"
    for src in "${sources[@]}"; do
        echo "$src -> $dest"
        cp -R -p "$src" "$dest" || sdh_die "Error installing $PKG_NAME: cannot copy $src to $dest"
    done
}

# sdh_guard: sdh_check_vars of the variables without which a build would install into
# the wrong place.
sdh_guard() {
    sdh_check_vars SAGE_ROOT SAGE_LOCAL SAGE_INST_LOCAL SAGE_SHARE
}

# eval sdh_prefix_args PREFIX ARG...: print `PREFIX "ARG"` for each ARG, quoted for eval
# (to pass options through pip: eval sdh_pip_install $(sdh_prefix_args --global-option ...)).
sdh_prefix_args() {
    local prefix="$1"
    shift
    while [ $# -gt 0 ]; do
        echo "$prefix" \"$1\"
        shift
    done
}

# sdh_preload_lib EXECUTABLE SONAME: on Linux, append the library EXECUTABLE loads whose
# name starts with SONAME to LD_PRELOAD (a no-op elsewhere, or when it loads none).
sdh_preload_lib() {
    local executable="$1"
    local soname="$2"
    if [ "$UNAME" != "Linux" ]; then
        return 0
    fi
    local path
    path="$(command -v "$executable")" ||
        sdh_die "Error building $PKG_NAME: sdh_preload_lib: no executable $executable"
    local libs
    libs="$(ldd "$path")" ||
        sdh_die "Error building $PKG_NAME: could not get the shared libraries of $executable"
    local lib
    lib="$(printf '%s\n' "$libs" | sed -n 's/^[[:space:]]*'"$soname"'[^ ]* => \([^ ]*\) .*/\1/p' | head -n 1)"
    if [ -n "$lib" ]; then
        export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
    fi
}

# _sdh_pip ARG...: pip for the venv's python3. mason makes venvs without pip: then the pip
# of the Python running mason works on the venv's python3 (pip --python).
_sdh_pip() {
    if python3 -c 'import pip' >/dev/null 2>&1 || [ -z "${MASON_PIP_PYTHON:-}" ]; then
        python3 -m pip "$@"
    else
        "$MASON_PIP_PYTHON" -m pip --python "$(command -v python3)" "$@"
    fi
}

# sdh_setup_bdist_wheel [ARG...]: `python3 setup.py bdist_wheel` (into ./dist, emptied of
# wheels first); installs nothing.
sdh_setup_bdist_wheel() {
    mkdir -p dist && rm -f dist/*.whl ||
        sdh_die "Error building a wheel for $PKG_NAME: cannot empty dist/"
    local bdist
    bdist="$(mktemp -d "${SAGE_PKG_DIR:-$PWD}/bdist.XXXXXX")" ||
        sdh_die "Error building a wheel for $PKG_NAME: cannot make a bdist directory"
    python3 setup.py --no-user-cfg bdist_wheel --bdist-dir "$bdist" "$@" ||
        sdh_die "Error building a wheel for $PKG_NAME"
}

# sdh_store_wheel .: move the one wheel in ./dist into the wheel store
# ($SAGE_DESTDIR$SAGE_SPKG_WHEELS); installs nothing. Sets $wheel to the stored file.
sdh_store_wheel() {
    if [ "$*" != "." ]; then
        sdh_die "Error storing a wheel for $PKG_NAME: sdh_store_wheel takes . as its only argument"
    fi
    local found=()
    local w
    for w in dist/*.whl; do
        [ -f "$w" ] && found+=("$w")
    done
    if [ ${#found[@]} -eq 0 ]; then
        sdh_die "Error storing a wheel for $PKG_NAME: no wheel found in $PWD/dist"
    fi
    if [ ${#found[@]} -gt 1 ]; then
        sdh_die "Error storing a wheel for $PKG_NAME: more than one wheel in $PWD/dist: ${found[*]##*/}"
    fi
    local store="${SAGE_DESTDIR}${SAGE_SPKG_WHEELS}"
    mkdir -p "$store" && mv "${found[0]}" "$store/" ||
        sdh_die "Error storing a wheel for $PKG_NAME: cannot move ${found[0]} to $store"
    wheel="$store/${found[0]##*/}"
    echo "Stored ${wheel##*/} in $SAGE_SPKG_WHEELS"
}

# sdh_store_and_pip_install_wheel [PIP-OPTION...] .: sdh_store_wheel, then have mason
# install the stored wheel into the venv (listed in $MASON_WHEELS_TO_INSTALL). mason
# installs exactly that wheel, never its dependencies, replacing an installation of the
# same distribution this package staged earlier: options that only say so are accepted;
# one that would install elsewhere or otherwise is refused.
sdh_store_and_pip_install_wheel() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --ignore-installed | -I | --no-deps | --force-reinstall | --upgrade | -U | \
                --no-index | --isolated | --no-build-isolation | --build-isolation | \
                --no-warn-script-location | --verbose | -v | --quiet | -q | \
                --disable-pip-version-check | --no-cache-dir) ;;
            -*)
                sdh_die "Error installing a wheel for $PKG_NAME: mason cannot honour the pip option $1 (it installs the stored wheel itself, into the venv, without dependencies)"
                ;;
            *) break ;;
        esac
        shift
    done
    sdh_store_wheel "$@"
    if [ -z "${MASON_WHEELS_TO_INSTALL:-}" ]; then
        sdh_die "Error installing ${wheel##*/} for $PKG_NAME: MASON_WHEELS_TO_INSTALL is not set (not run by mason?)"
    fi
    printf '%s\n' "${wheel##*/}" >>"$MASON_WHEELS_TO_INSTALL" ||
        sdh_die "Error installing ${wheel##*/} for $PKG_NAME: cannot write $MASON_WHEELS_TO_INSTALL"
    echo "mason installs ${wheel##*/} into $SAGE_VENV after this build"
}

# sdh_pip_install [--no-build-isolation|--build-isolation] [--no-deps] [--egg] [PIP-ARG...] PATH:
# build ONE wheel of the project with `pip wheel` (no index, no dependencies), store it
# and install it (sdh_store_and_pip_install_wheel). With build isolation (the default)
# the build requirements come from the wheel store only.
sdh_pip_install() {
    echo "Installing $PKG_NAME"
    local isolation=("--find-links=$SAGE_SPKG_WHEELS")
    while [ $# -gt 0 ]; do
        case "$1" in
            --build-isolation) isolation=("--find-links=$SAGE_SPKG_WHEELS") ;;
            --no-build-isolation) isolation=(--no-build-isolation --no-binary :all:) ;;
            --no-deps) ;; # mason never installs dependencies of a wheel
            --egg) echo "sdh_pip_install --egg: mason installs the wheel (a .dist-info)" ;;
            *) break ;;
        esac
        shift
    done
    if [ $# -eq 0 ]; then
        sdh_die "Error building a wheel for $PKG_NAME: sdh_pip_install needs the project's path"
    fi
    # pip reads a bare name as a requirement, not a path
    local args=("$@")
    local last="${args[-1]}"
    case "$last" in
        */* | . | -*) ;;
        *) [ -d "$last" ] && args[-1]="./$last" ;;
    esac
    mkdir -p dist && rm -f dist/*.whl ||
        sdh_die "Error building a wheel for $PKG_NAME: cannot empty dist/"
    _sdh_pip wheel --wheel-dir=dist --verbose --no-deps --no-index --isolated \
        --ignore-requires-python --no-cache-dir --disable-pip-version-check \
        "${isolation[@]}" "${args[@]}" ||
        sdh_die "Error building a wheel for $PKG_NAME (with build isolation, every build requirement must be a wheel in the wheel store $SAGE_SPKG_WHEELS: the package storing it is a dependency)"
    sdh_store_and_pip_install_wheel .
}

# sdh_pip_editable_install PATH: install the project at PATH in editable mode (PEP 660:
# the venv gets a link to PATH) into the staged venv. PATH must outlive the build: a
# project inside the build directory, which mason removes, is refused.
sdh_pip_editable_install() {
    echo "Installing $PKG_NAME (editable mode)"
    local project="${!#}"
    local where
    where="$(cd "$project" 2>/dev/null && pwd -P)" ||
        sdh_die "Error installing $PKG_NAME: no project directory $project"
    local build
    build="$(cd "${SAGE_PKG_DIR:-/nonexistent}" 2>/dev/null && pwd -P)"
    case "$where/" in
        "$build"/*)
            sdh_die "Error installing $PKG_NAME: an editable install of $where would point into the build directory, which mason removes after the install"
            ;;
    esac
    _sdh_pip install --verbose --no-deps --no-index --no-build-isolation --isolated \
        --disable-pip-version-check --no-cache-dir --no-warn-script-location \
        --root="$SAGE_DESTDIR" --editable "$@" ||
        sdh_die "Error installing $PKG_NAME"
}

# sdh_pip_uninstall ARG...: nothing to do; mason's store removes a package's files,
# including the Python distributions it installed.
sdh_pip_uninstall() {
    echo "sdh_pip_uninstall: nothing to do for $PKG_NAME (mason removes recorded files)"
}
