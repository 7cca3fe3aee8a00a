"""Tests of the installed `w8a8` Python package (pip install .; run: pytest tests/python/pkg).

They skip when the package is not installed, and under CTest's python_crosschecks run (W8A8_BUILD_DIR set), which
tests the C++ build tree rather than an installed package.
"""
import importlib.util
import os

collect_ignore_glob = []
if os.environ.get("W8A8_BUILD_DIR") or importlib.util.find_spec("w8a8") is None:
    collect_ignore_glob = ["test_*.py"]
