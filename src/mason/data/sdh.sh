# mason's build helpers: the sdh_* functions of SageMath's build/bin/sage-dist-helpers,
# same names and behaviour, for recipe fragments (spkg-*.in).
#
# mason sources this file, then the fragment, in one bash process WITHOUT `set -e`:
# a failing command is fatal only through `|| sdh_die` or one of these helpers.
# Every failure message names the package ($PKG_NAME).
#
# Differences from SageMath, on purpose:
# - wheels are only stored (into $SAGE_DESTDIR$SAGE_SPKG_WHEELS); mason installs the
#   stored wheels into the venv after the merge, so sdh_store_and_pip_install_wheel
#   does not call pip and sdh_pip_uninstall is a no-op (mason's store removes files).
# - sdh_pip_install builds with `python3 -m pip wheel --no-index --no-deps`.

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

# sdh_configure [ARG...]: ./configure into $SAGE_INST_LOCAL with shared libraries only.
sdh_configure() {
    echo "Configuring $PKG_NAME"
    ./configure --prefix="$SAGE_INST_LOCAL" \
        --libdir="$SAGE_INST_LOCAL/lib" \
        --disable-static \
        --disable-maintainer-mode \
        --disable-dependency-tracking \
        "$@"
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

# sdh_build_wheel [--no-build-isolation] PATH: build ONE wheel of the Python project at
# PATH into ./dist (emptied first) with pip: no index, no dependencies. Build requirements
# come from the stored wheels ($SAGE_SPKG_WHEELS) unless --no-build-isolation.
sdh_build_wheel() {
    local isolation=()
    local links=(--find-links "$SAGE_SPKG_WHEELS")
    while [ $# -gt 0 ]; do
        case "$1" in
            --no-build-isolation)
                isolation=(--no-build-isolation)
                ;;
            --build-isolation | --no-deps) ;;
            -*)
                sdh_die "Error building a wheel for $PKG_NAME: unknown option $1"
                ;;
            *) break ;;
        esac
        shift
    done
    if [ $# -ne 1 ]; then
        sdh_die "Error building a wheel for $PKG_NAME: give exactly one project path"
    fi
    if [ ! -d "$SAGE_SPKG_WHEELS" ]; then
        links=()
    fi
    local project="$1"
    case "$project" in
        */* | .) ;;
        *) project="./$project" ;; # pip reads a bare name as a requirement, not a path
    esac
    # mason makes venvs without pip: then the pip of the Python running mason
    # builds for the venv's python3 (pip --python).
    local pip=(python3 -m pip)
    if ! python3 -c 'import pip' >/dev/null 2>&1 && [ -n "${MASON_PIP_PYTHON:-}" ]; then
        pip=("$MASON_PIP_PYTHON" -m pip --python "$(command -v python3)")
    fi
    rm -rf dist && mkdir -p dist || sdh_die "Error building a wheel for $PKG_NAME: cannot create dist/"
    PIP_NO_INDEX=1 "${pip[@]}" wheel --no-index --no-deps --disable-pip-version-check \
        --wheel-dir dist "${isolation[@]}" "${links[@]}" "$project" ||
        sdh_die "Error building a wheel for $PKG_NAME"
}

# sdh_build_and_store_wheel [--no-build-isolation] PATH: sdh_build_wheel, then store it.
sdh_build_and_store_wheel() {
    sdh_build_wheel "$@"
    sdh_store_wheel .
}

# sdh_pip_install [--no-build-isolation] PATH: build ONE wheel and store it. mason
# installs stored wheels into the venv after the merge (pip is not run on the venv here).
sdh_pip_install() {
    echo "Installing $PKG_NAME"
    sdh_build_and_store_wheel "$@"
}

# sdh_setup_bdist_wheel [ARG...]: the old way, `python3 setup.py bdist_wheel` into ./dist.
sdh_setup_bdist_wheel() {
    rm -rf dist && mkdir -p dist || sdh_die "Error building a wheel for $PKG_NAME: cannot create dist/"
    python3 setup.py --no-user-cfg bdist_wheel --dist-dir dist "$@" ||
        sdh_die "Error building a wheel for $PKG_NAME"
}

# sdh_store_wheel PATH: store the one wheel found at PATH (a .whl file, or a directory
# whose dist/ holds exactly one wheel) into $SAGE_DESTDIR$SAGE_SPKG_WHEELS.
sdh_store_wheel() {
    if [ $# -ne 1 ]; then
        sdh_die "Error storing a wheel for $PKG_NAME: sdh_store_wheel takes one path"
    fi
    local wheel=""
    if [ -f "$1" ]; then
        wheel="$1"
    else
        local found=()
        local w
        for w in "$1"/dist/*.whl; do
            [ -f "$w" ] && found+=("$w")
        done
        if [ ${#found[@]} -eq 0 ]; then
            sdh_die "Error storing a wheel for $PKG_NAME: no wheel found in $1/dist"
        fi
        if [ ${#found[@]} -gt 1 ]; then
            sdh_die "Error storing a wheel for $PKG_NAME: more than one wheel in $1/dist: ${found[*]}"
        fi
        wheel="${found[0]}"
    fi
    case "$wheel" in
        *.whl) ;;
        *) sdh_die "Error storing a wheel for $PKG_NAME: $wheel is not a .whl file" ;;
    esac
    local store="${SAGE_DESTDIR}${SAGE_SPKG_WHEELS}"
    mkdir -p "$store" && mv "$wheel" "$store/" ||
        sdh_die "Error storing a wheel for $PKG_NAME: cannot move $wheel to $store"
    echo "Stored ${wheel##*/} in $SAGE_SPKG_WHEELS (staged)"
}

# sdh_store_and_pip_install_wheel [PIP-OPTION...] PATH: store the wheel; mason installs
# stored wheels into the venv after the merge, so pip options are accepted and ignored.
sdh_store_and_pip_install_wheel() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -*) shift ;;
            *) break ;;
        esac
    done
    sdh_store_wheel "$@"
}

# sdh_pip_uninstall ARG...: nothing to do; mason's store removes a package's files,
# including the Python distributions it installed.
sdh_pip_uninstall() {
    echo "sdh_pip_uninstall: nothing to do for $PKG_NAME (mason removes recorded files)"
}
