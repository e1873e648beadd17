# Sourced by scripts/demo and scripts/test: a virtualenv in .venv with cxprism installed.
# $1: the extras to install, e.g. "" or "dev".
ensure_venv() {
  local extras="${1:-}"
  local python="${PYTHON:-}"
  if [ -z "$python" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1 &&
         "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"; break
      fi
    done
  fi
  if [ -z "$python" ]; then
    echo "cxprism needs Python 3.11 or newer (set PYTHON=/path/to/python3)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
}
