#!/usr/bin/env bash
# Install CellProfiler (headless) into its own virtualenv: make cellprofiler.
#
#   tools/install_cellprofiler.sh VENV [--optional]
#
# Needs Python 3.9 (PATH, or pyenv) and a JDK (JAVA_HOME, or Debian's OpenJDK 17).
# Says exactly what is missing when they are not there; with --optional it then
# exits 0 so `make test` can go on (the CellProfiler tests skip; under CI they fail).
set -euo pipefail

VENV=${1:?usage: install_cellprofiler.sh VENV [--optional]}
OPTIONAL=${2:-}
CELLPROFILER_VERSION=4.2.8.1
HERE=$(cd "$(dirname "$0")/.." && pwd)
PIP_QUIET=(--disable-pip-version-check -q)

missing() {
    echo "make cellprofiler: $1" >&2
    if [[ "$OPTIONAL" == "--optional" ]]; then
        echo "make cellprofiler: skipped; the CellProfiler tests and the painting demo will be skipped" >&2
        exit 0
    fi
    exit 1
}

find_python39() {
    local candidate
    for candidate in "${PYTHON39:-}" "$(command -v python3.9 || true)" \
        "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.9"*/bin/python3.9 || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.9"*/bin/python3.9; do
        if [[ -n "$candidate" && -x "$candidate" ]] \
            && "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 9)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

find_jdk() {
    local candidate javac
    javac=$(command -v javac || true)
    for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 \
        /usr/lib/jvm/default-java "${javac:+$(dirname "$(dirname "$(readlink -f "$javac")")")}"; do
        if [[ -n "$candidate" && -f "$candidate/include/jni.h" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

stamp="$VENV/.cellprofiler-$CELLPROFILER_VERSION-$(cksum < "$HERE/requirements-cellprofiler.txt" | cut -d' ' -f1)"
if [[ -f "$stamp" ]]; then
    exit 0
fi

PY39=$(find_python39) || missing "Python 3.9 not found (CellProfiler 4.2 needs it). Install it, e.g. 'pyenv install 3.9', or set PYTHON39=/path/to/python3.9."
JDK=$(find_jdk) || missing "no JDK found (python-javabridge compiles against jni.h). Install one: 'apt-get install openjdk-17-jdk-headless', or set JAVA_HOME."

started=$(date +%s)
echo "installing CellProfiler $CELLPROFILER_VERSION into $VENV (Python: $PY39, JDK: $JDK)..."
rm -rf "$VENV"
"$PY39" -m venv "$VENV"
export JAVA_HOME="$JDK"
pip() { "$VENV/bin/python" -m pip "${PIP_QUIET[@]}" "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
pip install "numpy==1.23.5" "cython<3" "setuptools<70" wheel
pip install --no-build-isolation "python-javabridge==4.0.4"
pip install -r "$HERE/requirements-cellprofiler.txt"
pip install --no-deps "cellprofiler-core==$CELLPROFILER_VERSION" "cellprofiler==$CELLPROFILER_VERSION"
# Fail here, not in a test, if the install is broken.
"$VENV/bin/python" -c "import cellprofiler, cellprofiler_core, javabridge, bioformats, boto3, numpy.typing, pycytominer, pyarrow"
test -x "$VENV/bin/cellprofiler"
touch "$stamp"
echo "CellProfiler $CELLPROFILER_VERSION installed in $(( $(date +%s) - started )) s: $VENV/bin/cellprofiler"
