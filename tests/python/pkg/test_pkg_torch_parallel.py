"""w8a8.nn.ParallelFp8Linear over torch.distributed: 2 CPU processes on gloo against the single layer.
Skipped without torch (CI); run with torch installed, or on the GPU machine."""
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

WORLD = 2


def _worker(rank, world, init_file, queue):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        import w8a8.nn
        torch.manual_seed(0)  # the same layer and input on every rank
        lin = torch.nn.Linear(256, 128)
        x = torch.randn(7, 256)
        single = w8a8.nn.Fp8Linear.from_linear(lin)(x)
        col = w8a8.nn.ParallelFp8Linear.from_linear(lin, "column", gather_output=True)
        col_local = w8a8.nn.ParallelFp8Linear.from_linear(lin, "column")
        n = 128 // world
        row = w8a8.nn.ParallelFp8Linear.from_linear(lin, "row")
        k = 256 // world
        y_row = row(x[:, rank * k:(rank + 1) * k].contiguous())
        ref = lin(x).detach().double()
        queue.put((rank,
                   torch.equal(col(x), single),
                   torch.equal(col_local(x), single[:, rank * n:(rank + 1) * n]),
                   ((y_row.double() - ref).norm() / ref.norm()).item()))
    finally:
        dist.destroy_process_group()


def test_column_and_row_parallel_on_two_processes(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, WORLD, str(tmp_path / "init"), queue)) for r in range(WORLD)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank, gathered_same, local_same, row_rel in results:
        assert gathered_same, f"rank {rank}: gathered column-parallel output differs from the single layer"
        assert local_same, f"rank {rank}: column-parallel shard differs from the single layer's columns"
        assert row_rel <= 6e-2, f"rank {rank}: row-parallel relative error {row_rel}"


def test_parallel_linear_rejects_bad_kinds():
    import w8a8.nn
    w = torch.randn(16, 32).to(torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="kind: expected 'column' or 'row'"):
        w8a8.nn.ParallelFp8Linear("diagonal", w, torch.ones(1))
    with pytest.raises(ValueError, match="gather_output: only column-parallel"):
        w8a8.nn.ParallelFp8Linear("row", w, torch.ones(1), gather_output=True)
