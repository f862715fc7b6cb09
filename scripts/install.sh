#!/usr/bin/env bash
# Install macefield-flows (editable) and its dependencies into the active Python.
#
# torch is installed first, so that pip does not pull an unwanted build:
#   * an existing torch (e.g. a CUDA build on a GPU machine) is kept as it is;
#   * TORCH_SPEC / TORCH_INDEX_URL override the choice, e.g.
#       TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/install.sh
#   * on a machine with an NVIDIA driver: the default PyPI build of torch (CUDA);
#   * otherwise torch==2.13.0, which on our CPU machines resolves to a local CPU wheel.
# Extras: EXTRAS="test,mp,train,gpu" (default "test").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
EXTRAS=${EXTRAS:-test}

if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    echo "install.sh: keeping installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
else
    if [ -n "${TORCH_SPEC:-}" ]; then
        spec=$TORCH_SPEC
    elif command -v nvidia-smi >/dev/null 2>&1; then
        spec="torch>=2.4,<2.15"
    else
        spec="torch==2.13.0"
    fi
    echo "install.sh: installing $spec"
    "$PYTHON" -m pip install ${PIP_FLAGS:-} "$spec" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
"$PYTHON" -m pip install ${PIP_FLAGS:-} -e ".[${EXTRAS}]"
