"""pip's build backend for w8a8: scikit-build-core, plus one build requirement decided at build time.

Where a CUDA compiler is found and the build is not told W8A8_CUDA=OFF / W8A8_CUTLASS=OFF, the pinned
nvidia-cutlass wheel (cmake/cutlass-version.txt) is a build requirement: CMake takes w8a8's Hopper kernels'
CUTLASS/CuTe headers from it (cmake/Cuda.cmake), so `pip install .` on a GPU machine needs no flag and no manual
fetch. A CPU-only machine downloads nothing extra.
"""
from __future__ import annotations

import os
import pathlib
import shutil

from scikit_build_core import build as _skbuild
from scikit_build_core.build import *  # noqa: F401,F403  (build_wheel, build_sdist, build_editable, ...)

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_OFF = {"OFF", "0", "FALSE", "NO", "N"}


def _defined(name: str, config_settings: dict | None) -> str | None:
    """The value given to CMake variable `name` through pip's -C, SKBUILD_CMAKE_DEFINE or CMAKE_ARGS, if any."""
    for key, value in (config_settings or {}).items():
        if key in (f"cmake.define.{name}", f"cmake.define.{name}:STRING", f"cmake.define.{name}:BOOL"):
            return str(value)
    for item in os.environ.get("SKBUILD_CMAKE_DEFINE", "").split(";"):
        key, _, value = item.partition("=")
        if key.split(":")[0].strip() == name:
            return value
    for arg in os.environ.get("CMAKE_ARGS", "").split():
        if arg.startswith(f"-D{name}=") or arg.startswith(f"-D{name}:"):
            return arg.partition("=")[2]
    return None


def _cuda_compiler() -> str | None:
    for candidate in (os.environ.get("CUDACXX"), shutil.which("nvcc"),
                      *(os.path.join(os.environ[v], "bin", "nvcc") for v in ("CUDA_HOME", "CUDA_PATH") if v in os.environ),
                      "/usr/local/cuda/bin/nvcc"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _cutlass_requirement(config_settings: dict | None) -> list[str]:
    for name in ("W8A8_CUDA", "W8A8_CUTLASS"):
        value = _defined(name, config_settings)
        if value is not None and value.strip().upper() in _OFF:
            return []
    if _defined("W8A8_CUTLASS_DIR", config_settings) or _cuda_compiler() is None:
        return []
    version = (_ROOT / "cmake" / "cutlass-version.txt").read_text().split()[0]
    return [f"nvidia-cutlass=={version}"]


def get_requires_for_build_wheel(config_settings=None):
    return [*_skbuild.get_requires_for_build_wheel(config_settings), *_cutlass_requirement(config_settings)]


def get_requires_for_build_editable(config_settings=None):
    return [*_skbuild.get_requires_for_build_editable(config_settings), *_cutlass_requirement(config_settings)]
