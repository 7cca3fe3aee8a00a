#include "scaled_mm/cpu/thread_pool.h"

#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace w8a8::smm::cpu {
namespace {

thread_local bool t_in_job = false;

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  int workers() const { return int(threads_.size()); }

  // False when another job is running (the caller then runs serially).
  bool run(int64_t n, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> job_lock(job_mutex_, std::try_to_lock);
    if (!job_lock.owns_lock()) return false;
    Job job{&fn, n};
    {
      std::lock_guard<std::mutex> lk(m_);
      job.pending = int(threads_.size());
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    execute(job);
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return job.pending == 0; });
    job_ = nullptr;
    return true;
  }

 private:
  struct Job {
    const std::function<void(int64_t)>* fn;
    int64_t n;
    std::atomic<int64_t> next{0};
    int pending = 0;  // workers that have not finished this job (guarded by m_)
  };

  static void execute(Job& job) {
    t_in_job = true;
    for (int64_t i = job.next.fetch_add(1); i < job.n; i = job.next.fetch_add(1)) (*job.fn)(i);
    t_in_job = false;
  }

  void work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      wake_.wait(lk, [&] { return generation_ != seen; });
      seen = generation_;
      Job* job = job_;
      lk.unlock();
      execute(*job);
      lk.lock();
      if (--job->pending == 0) done_.notify_one();
    }
  }

  std::mutex job_mutex_;  // one job at a time
  std::mutex m_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  Job* job_ = nullptr;
  std::vector<std::thread> threads_;
};

Pool& pool() {
  // Never destroyed: workers stay blocked until the process exits, so no join races exit.
  static Pool* p = new Pool(omp_get_max_threads() > 1 ? omp_get_max_threads() - 1 : 0);
  return *p;
}

}  // namespace

void parallel_for_blocking(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n > 1 && !t_in_job && pool().workers() > 0 && pool().run(n, fn)) return;
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace w8a8::smm::cpu
