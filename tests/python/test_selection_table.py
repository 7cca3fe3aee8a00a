"""bench/make_selection_table.py: the measured table the cutlass backend reads, from tune JSON and the accuracy log."""
import importlib.util
import json
import re
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "make_selection_table.py"
spec = importlib.util.spec_from_file_location("make_selection_table", SCRIPT)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)

# Lines as GpuScaledMm.CutlassAccumulationAccuracyLongK prints them (H100, 2026-11-25).
ACCURACY = """
[accuracy] K=4096  fp32 promoted cutlass   fp32_128x128x128_c2x1_coop:promote=4           rel 0.00023, worst element 0.14 of bound
[accuracy] K=4096  fp32 promoted cutlass   fp32_128x128x128_c2x1_coop:promote=8           rel 0.000323, worst element 0.16 of bound
[accuracy] K=4096  fp32 promoted cutlass   fp32_128x128x128_c2x1_coop:promote=16          rel 0.000458, worst element 0.22 of bound
[accuracy] K=4096  bf16 promoted cutlass   bf16_128x128x128_c2x1_coop:promote=16          rel 0.00173, worst element 0.42 of bound
[accuracy] K=16384 fp32 promoted cutlass   fp32_128x128x128_c2x1_coop:promote=8           rel 0.000326, worst element 0.18 of bound
[accuracy] K=16384 fp32 fast     cutlass   fp32_128x256x128_c2x1_coop_fast                rel 0.00236, worst element 1.02 of bound
"""


def test_promotion_interval_follows_the_printed_fp32_error():
    assert table.max_promote_from(ACCURACY) == 4  # 8 and 16 are over 3e-4
    passing_8 = ACCURACY.replace("rel 0.000323", "rel 0.000290").replace("rel 0.000326", "rel 0.000299")
    assert table.max_promote_from(passing_8) == 8
    # 16 within the bound but 8 not: the longer interval does not count either.
    odd = ACCURACY.replace("rel 0.000458", "rel 0.000250")
    assert table.max_promote_from(odd) == 4
    assert table.max_promote_from("") == 4  # nothing printed: the asserted interval
    # bf16 output and fast accumulation lines are not the promoted fp32 bound.
    assert table.max_promote_from(ACCURACY.replace("fp32 promoted", "bf16 promoted")) == 4


def row(m, n, k, kernel, us, fast=False, vec=False):
    return {"M": m, "N": n, "K": k, "fast": fast, "vec": vec, "kernel": kernel, "us": us}


def generate(tmp_path, rows, *args, fallback_rows=None):
    tune = tmp_path / "tune.json"
    tune.write_text(json.dumps({"device": "test", "reps": 1, "tune": rows}))
    cmd = [sys.executable, str(SCRIPT), str(tune), "--out", str(tmp_path / "table.inc"), *args]
    if fallback_rows is not None:
        (tmp_path / "old.json").write_text(json.dumps({"device": "test", "reps": 1, "tune": fallback_rows}))
        cmd += ["--fallback", str(tmp_path / "old.json")]
    (tmp_path / "acc.log").write_text(ACCURACY)
    subprocess.run(cmd, check=True, capture_output=True)
    return [l for l in (tmp_path / "table.inc").read_text().splitlines() if l.startswith("W8A8_SM90_PICK")]


def test_table_rows_take_the_fastest_allowed_kernel_with_its_knobs(tmp_path):
    rows = [row(1, 8192, 8192, "cublaslt", 25.5),
            row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap:prefetch=2048", 23.8),
            row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap:pdl=0", 20.0),  # never without PDL
            row(1, 8192, 8192, "not_a_shipped_config", 10.0),  # not in configs.h
            row(8192, 8192, 8192, "cublaslt", 900.0),
            row(8192, 8192, 8192, "bf16_128x128x128_c2x1_coop:promote=16", 850.0),  # over the accuracy bound
            row(8192, 8192, 8192, "bf16_128x128x128_c2x1_coop", 895.0),  # < 1 % faster: cuBLASLt stays
            row(4096, 8192, 8192, "cublaslt", 500.0),
            row(4096, 8192, 8192, "bf16_128x128x128_c2x1_coop:swizzle=8,raster=m", 450.0)]
    picks = generate(tmp_path, rows, "--accuracy", str(tmp_path / "acc.log"))
    assert picks[0].startswith('W8A8_SM90_PICK("test", false, false, 1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap", '
                               '1, heuristic, 1, 4, true, 2048, 23.8, 25.5)')
    assert picks[1].startswith('W8A8_SM90_PICK("test", false, false, 4096, 8192, 8192, "bf16_128x128x128_c2x1_coop", '
                               '8, along_m, 1, 4, true, 0, 450.0, 500.0)')
    # cuBLASLt stays: its time first, then the best allowed configuration's.
    assert picks[2].startswith('W8A8_SM90_PICK("test", false, false, 8192, 8192, 8192, "cublaslt", 1, heuristic, 1, 4, true, 0, '
                               '900.0, 895.0)')
    assert len(picks) == 3


def test_groups_a_cut_short_run_missed_come_from_the_fallback(tmp_path):
    new = [row(1, 4096, 4096, "cublaslt", 9.0), row(1, 4096, 4096, "bf16_16x8x1024_c1x1_gemv_swap", 8.5)]
    old = [row(1, 4096, 4096, "cublaslt", 1.0),  # measured again: the new run wins
           row(1, 4096, 4096, "cublaslt", 9.0, fast=True), row(1, 4096, 4096, "bf16_16x8x1024_c1x1_gemv_fast_swap", 8.0, fast=True)]
    picks = generate(tmp_path, new, fallback_rows=old)
    assert len(picks) == 2
    assert '"bf16_16x8x1024_c1x1_gemv_swap"' in picks[0] and "earlier run" not in picks[0]
    assert '"bf16_16x8x1024_c1x1_gemv_fast_swap"' in picks[1] and picks[1].endswith("; earlier run")


def generate_for(tmp_path, device, rows, *args):
    tune = tmp_path / f"tune-{device.replace(' ', '_')}.json"
    tune.write_text(json.dumps({"device": device, "reps": 1, "tune": rows}))
    subprocess.run([sys.executable, str(SCRIPT), str(tune), "--out", str(tmp_path / "table.inc"), *args],
                   check=True, capture_output=True)
    return (tmp_path / "table.inc").read_text()


def test_a_device_replaces_its_own_block_and_keeps_the_others(tmp_path):
    h100 = [row(1, 8192, 8192, "cublaslt", 25.5), row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap", 23.8)]
    h200 = [row(1, 8192, 8192, "cublaslt", 17.0), row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap", 18.0)]
    generate_for(tmp_path, "NVIDIA H100 80GB HBM3", h100)
    text = generate_for(tmp_path, "NVIDIA H200", h200)
    picks = [l for l in text.splitlines() if l.startswith("W8A8_SM90_PICK")]
    # The reference device (first tuned) stays first; the new device is appended with its own decision.
    assert picks[0].startswith('W8A8_SM90_PICK("NVIDIA H100 80GB HBM3", false, false, 1, 8192, 8192, '
                               '"bf16_16x8x1024_c1x1_gemv_swap"')
    assert picks[1].startswith('W8A8_SM90_PICK("NVIDIA H200", false, false, 1, 8192, 8192, "cublaslt"')
    # Tuning the H100 again replaces its block in place, once.
    text = generate_for(tmp_path, "NVIDIA H100 80GB HBM3", [row(1, 8192, 8192, "cublaslt", 20.0),
                                                          row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_swap", 23.8)])
    picks = [l for l in text.splitlines() if l.startswith("W8A8_SM90_PICK")]
    assert len(picks) == 2
    assert picks[0].startswith('W8A8_SM90_PICK("NVIDIA H100 80GB HBM3", false, false, 1, 8192, 8192, "cublaslt"')
    assert picks[1].startswith('W8A8_SM90_PICK("NVIDIA H200"')
    assert text.count("// ---- device: ") == 2


def test_fallback_takes_only_the_same_devices_earlier_runs(tmp_path):
    other = tmp_path / "tune-other.json"
    other.write_text(json.dumps({"device": "NVIDIA H100 80GB HBM3", "reps": 1, "tune": [
        row(16, 8192, 8192, "cublaslt", 26.0), row(16, 8192, 8192, "bf16_64x16x128_c1x1_pingpong_swap", 20.0)]}))
    older = tmp_path / "tune-h200-old.json"
    older.write_text(json.dumps({"device": "NVIDIA H200", "reps": 1, "tune": [
        row(32, 8192, 8192, "cublaslt", 19.0)]}))
    text = generate_for(tmp_path, "NVIDIA H200", [row(1, 8192, 8192, "cublaslt", 17.0)],
                        "--fallback", str(other), str(older))
    picks = [l for l in text.splitlines() if l.startswith("W8A8_SM90_PICK")]
    assert [p.split(", ")[3] for p in picks] == ["1", "32"]  # the H100's M = 16 row is not the H200's
    assert picks[1].endswith("; earlier run")


def test_the_checked_in_table_names_only_shipped_configurations():
    configs = (ROOT / "src/scaled_mm/cutlass_sm90/configs.h").read_text()
    shipped = set(re.findall(r"^#define W8A8_SM90_CFG_(\w+) ", configs, re.M))
    text = (ROOT / "src/scaled_mm/cutlass_sm90/selection_table.inc").read_text()
    names = re.findall(r'^W8A8_SM90_PICK\("[^"]*", \w+, \w+, \d+, \d+, \d+, "(\w+)"', text, re.M)
    assert len(names) == text.count("\nW8A8_SM90_PICK(")
    assert names and set(names) - {"cublaslt"} <= shipped
    devices = re.findall(r"^// ---- device: (.*) ----$", text, re.M)
    assert devices and devices[0] == "NVIDIA H100 80GB HBM3" and len(set(devices)) == len(devices)


TIME_TO_TUNE = ROOT / "bench" / "time_to_tune.py"
# Lines as `w8a8-bench --time` prints them (device-check.sh time's time.txt).
TIME_TXT = """
time M=8192 N=8192 K=8192 promoted per_tensor cublaslt                                                   944.6 us  1164.0 TFLOPS
time M=8192 N=8192 K=8192 promoted per_tensor bf16_128x128x128_c2x1_coop:swizzle=8,raster=m            1077.9 us  1020.1 TFLOPS
time M=8192 N=8192 K=8192 promoted rowwise auto                                                          960.0 us  1145.3 TFLOPS
time M=1 N=8192 K=8192 fast per_tensor bf16_16x8x1024_c1x1_gemv_fast_swap:prefetch=1024                   23.7 us     5.7 TFLOPS
"""


def test_time_lines_become_tune_rows_that_replace_only_their_groups(tmp_path):
    (tmp_path / "time.txt").write_text(TIME_TXT)
    out = subprocess.run([sys.executable, str(TIME_TO_TUNE), str(tmp_path / "time.txt"), "--device", "test"],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    assert data["device"] == "test"
    assert data["tune"] == [row(8192, 8192, 8192, "cublaslt", 944.6),
                            row(8192, 8192, 8192, "bf16_128x128x128_c2x1_coop:swizzle=8,raster=m", 1077.9),
                            row(1, 8192, 8192, "bf16_16x8x1024_c1x1_gemv_fast_swap:prefetch=1024", 23.7, fast=True)]
    # As make_selection_table's tune JSON: its groups replace the fallback's, the others stay.
    old = [row(8192, 8192, 8192, "cublaslt", 2000.0), row(8192, 8192, 8192, "bf16_128x128x128_c2x1_coop", 900.0),
           row(16, 8192, 8192, "cublaslt", 26.0), row(16, 8192, 8192, "bf16_64x16x128_c1x1_pingpong_swap", 20.0)]
    picks = generate(tmp_path, data["tune"], fallback_rows=old)
    assert any(p.startswith('W8A8_SM90_PICK("test", false, false, 8192, 8192, 8192, "cublaslt"') for p in picks)
    assert any('16, 8192, 8192, "bf16_64x16x128_c1x1_pingpong_swap"' in p and p.endswith("; earlier run") for p in picks)


LAYER_TO_TUNE = ROOT / "bench" / "layer_to_tune.py"
TABLE = ROOT / "src/scaled_mm/cutlass_sm90/selection_table.inc"


def test_layer_benchmark_rows_become_tune_rows(tmp_path):
    rows = [
        {"table": "kernel", "scheme": "rowwise", "acc": "promoted", "M": 512, "N": 8192, "K": 8192, "w8a8_us": 58.2,
         "torch_us": 52.4, "torch_ref": "torch._scaled_mm", "choice": "cutlass bf16_128x128x128_c2x1_coop"},
        {"table": "kernel", "scheme": "per_tensor", "acc": "fast", "M": 4096, "N": 8192, "K": 8192, "w8a8_us": 480.0,
         "torch_us": 470.0, "torch_ref": "torch._scaled_mm", "choice": "cutlass bf16_128x256x128_c2x1_coop_fast [swizzle=2,raster=m]"},
        {"table": "kernel", "scheme": "per_tensor", "acc": "promoted", "M": 64, "N": 8192, "K": 8192, "w8a8_us": 28.0,
         "torch_us": 27.6, "torch_ref": "torch._scaled_mm", "choice": "cublaslt"},
        {"table": "kernel", "scheme": "blockwise", "acc": "promoted", "M": 1, "N": 8192, "K": 8192, "w8a8_us": 30.0,
         "torch_us": 40.0, "torch_ref": "F.linear bf16", "choice": "cublaslt"},
        {"table": "layer", "scheme": "token", "acc": "promoted", "M": 1, "N": 8192, "K": 8192, "w8a8_us": 30.0,
         "torch_us": 40.0, "torch_ref": "torch._scaled_mm", "choice": "cutlass bf16_16x8x1024_c1x1_gemv_swap"},
    ]
    (tmp_path / "layer.json").write_text(json.dumps({"device": "test", "rows": rows}))
    out = subprocess.run([sys.executable, str(LAYER_TO_TUNE), str(tmp_path / "layer.json")], check=True,
                         capture_output=True, text=True).stdout
    tune = json.loads(out)["tune"]
    assert tune == [row(512, 8192, 8192, "bf16_128x128x128_c2x1_coop", 58.2, vec=True),
                    row(512, 8192, 8192, "cublaslt", 52.4, vec=True),
                    row(4096, 8192, 8192, "bf16_128x256x128_c2x1_coop_fast:swizzle=2,raster=m", 480.0, fast=True),
                    row(4096, 8192, 8192, "cublaslt", 470.0, fast=True),
                    row(64, 8192, 8192, "cublaslt", 27.6)]
    # The configuration that lost to cuBLASLt gives way in the table; cuBLASLt's row stays cuBLASLt's.
    picks = generate(tmp_path, tune)
    assert all('"cublaslt"' in p for p in picks) and len(picks) == 3


def test_the_checked_in_table_regenerates_from_the_committed_measurements(tmp_path):
    text = TABLE.read_text()
    note = next(line[3:] for line in text.splitlines() if line.startswith("// Measurements: "))
    out = tmp_path / "table.inc"
    out.write_text(text)
    plots = ROOT / "docs" / "plots"
    subprocess.run([sys.executable, str(SCRIPT), str(plots / "tune-h100-2026-12-06-layer.json"), "--fallback",
                    str(plots / "tune-h100-2026-11-25.json"), str(plots / "tune-h100-2026-11-25b.json"),
                    "--max-promote", "4", "--out", str(out), "--note", note], check=True, capture_output=True)
    assert out.read_text() == text
