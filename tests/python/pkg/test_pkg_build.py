"""w8a8.build_info(): what the package was built with, consistent with the platform and the kernel list."""
import re

import w8a8


def test_build_info_agrees_with_the_platform():
    info = w8a8.build_info()
    backends = info["backends"].split()
    assert backends[0] == "cpu"
    cuda = w8a8.platform()["cuda_built"]
    assert ("cublaslt" in backends) == cuda
    assert bool(info["archs"]) == cuda
    if cuda:
        assert "sm_90a" in info["archs"].split(), info["archs"]
        assert all(re.fullmatch(r"(sm|compute)_\d+a?", a) for a in info["archs"].split()), info["archs"]
    hopper = "cutlass_sm90" in backends
    assert (info["cutlass_kernels"] > 0) == hopper
    assert bool(info["cutlass_version"]) == hopper
    if hopper:
        assert re.fullmatch(r"\d+\.\d+\.\d+", info["cutlass_version"]), info["cutlass_version"]
    assert len(w8a8.scaled_mm_kernels("cutlass")) == info["cutlass_kernels"]
