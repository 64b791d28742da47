#!/usr/bin/env bash
# Build the SemantiCodec environment: a venv of its own, apart from the project's .venv (whose
# torch 2.13 CPU must stay), with torch 2.9.1 / torchvision 0.24.1 / torchaudio 2.9.1, the
# semanticodec package at a pinned commit (it is not on PyPI), its requirements, and this project
# (editable, without its torch==2.13.0 pin). Every step runs under envs/semanticodec-constraints.txt.
#
#   make semanticodec-env                      # = scripts/setup_semanticodec_env.sh .venv-semanticodec
#   scripts/setup_semanticodec_env.sh [VENV]
#
# Environment: PYTHON (default python3.11); SEMANTICODEC_SPEC, the pip requirement for the package
# (default: its GitHub repository at the pinned commit; a local checkout's path works too).
# PyPI's torch 2.9.1 for x86-64 Linux is the CUDA 12.8 build (about 4.5 GB with its nvidia-*
# wheels); it also runs on CPU. Then, e.g.:
#   PYTHONPATH=src .venv-semanticodec/bin/python -m pytest tests/test_backend_semanticodec.py
#   .venv-semanticodec/bin/python scripts/bench_backends.py --real-size --backends semanticodec ...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-semanticodec}"
PYTHON="${PYTHON:-python3.11}"
COMMIT=7c05d426d2971505014b96fc151522f78ff2a265  # = PACKAGE_COMMIT in paradigms/semanticodec.py
SEMANTICODEC_SPEC="${SEMANTICODEC_SPEC:-semanticodec @ git+https://github.com/haoheliu/SemantiCodec-inference.git@$COMMIT}"
CONSTRAINTS="$ROOT/envs/semanticodec-constraints.txt"

"$PYTHON" -m venv "$VENV"
echo '*' > "$VENV/.gitignore"  # keep the venv out of git wherever it lies
PIP=("$VENV/bin/python" -m pip install -c "$CONSTRAINTS")
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24"
"${PIP[@]}" torch torchvision torchaudio
# the package without its unpinned requirements, then those (and the two it imports without
# declaring them: requests, tqdm) under the constraints
"${PIP[@]}" --no-deps "$SEMANTICODEC_SPEC"
"${PIP[@]}" soundfile vector-quantize-pytorch huggingface_hub timm scipy einops requests tqdm
# this project: its requirements less the torch pin, then the package itself without them
"$VENV/bin/python" - "$ROOT/pyproject.toml" > "$VENV/reconfake-requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    if not req.replace(" ", "").startswith("torch=="):
        print(req)
PY
"${PIP[@]}" -r "$VENV/reconfake-requirements.txt"
"${PIP[@]}" --no-deps -e "$ROOT"
"$VENV/bin/python" - <<'PY'
import warnings
warnings.simplefilter("ignore")
import torch, torchaudio, semanticodec, vector_quantize_pytorch, timm  # noqa: E401,F401
from importlib.metadata import version
print("semanticodec environment:", ", ".join(
    f"{p} {version(p)}" for p in ("torch", "torchvision", "torchaudio", "semanticodec", "timm",
                                  "vector-quantize-pytorch", "reconfake")))
PY
