#!/usr/bin/env bash
# Run a binary built by build-cuda.sh on a machine with an NVIDIA driver and
# PyTorch's pip-installed CUDA 13 libraries (no Rust, no internet needed).
#   bash gpu-run.sh ./synthmix gan-train --device cuda ...   (the multi-call binary)
#   bash gpu-run.sh ./gan-train --help
# Puts every site-packages/nvidia/*/lib folder of python3 on LD_LIBRARY_PATH
# (nvidia/cu13/lib for CUDA 13 wheels; nvidia/cublas/lib etc. for CUDA 12 ones),
# then the lib64 beside nvcc if there is one; libcuda.so.1 comes from the driver.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: gpu-run.sh BINARY [ARGS...]" >&2; exit 2; }
py="${PYTHON:-python3}"
libs="$("$py" -c 'import glob, os, site
dirs = [d for p in site.getsitepackages() for d in sorted(glob.glob(os.path.join(p, "nvidia", "*", "lib")))]
print(":".join(dirs))' 2>/dev/null || true)"
if nvcc_path="$(command -v nvcc 2>/dev/null)"; then
  tk="$(dirname "$(dirname "$nvcc_path")")/lib64"
  [[ -d "$tk" ]] && libs="${libs:+$libs:}$tk"
fi
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if missing="$(ldd "$1" 2>/dev/null | grep 'not found')"; then
  echo "gpu-run: $1 needs libraries that are not found:" >&2
  echo "$missing" >&2
  echo "gpu-run: LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >&2
  exit 127
fi
exec "$@"
