import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def build_dir() -> pathlib.Path:
    """The CMake build folder whose programs the tests drive (CTest sets W8A8_BUILD_DIR)."""
    path = os.environ.get("W8A8_BUILD_DIR")
    if not path:
        pytest.skip("W8A8_BUILD_DIR is not set (run through ctest)")
    return pathlib.Path(path)
