// A fork-join pool whose idle workers sleep instead of spinning.
//
// The large-M path alternates its own parallel steps (dequantization, epilogue) with OpenBLAS
// calls that run on OpenBLAS's threads. OpenMP workers spin for a while after each parallel region
// (libgomp's GOMP_SPINCOUNT), and on a machine with as many cores as threads that spinning takes
// CPU from the sgemm that follows: measured 0.64x of sgemm alone instead of ~0.97x on 2 cores.
// Workers here block on a condition variable as soon as a job is done.
#pragma once

#include <cstdint>
#include <functional>

namespace w8a8::smm::cpu {

// Runs fn(i) for every i in [0, n) on the calling thread and the pool's workers (as many threads
// as omp_get_max_threads() at first use), returning when all are done. Serial when n is small,
// when called from inside a job, or while another thread's job runs.
void parallel_for_blocking(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace w8a8::smm::cpu
