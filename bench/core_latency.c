/* How long one cache line takes to go from one core to another and back:
 * two threads pass a counter through one atomic word, each waiting for
 * the other's write (200000 round trips, best of 5 runs). tac's thread
 * pool hands every job to its workers and collects it through such words,
 * and each job's operands move between the cores the same way, so this
 * bounds how small a job can usefully be split (docs/bench.md, "What
 * limits the rest"). On a VM the host decides where the virtual CPUs
 * run, and the answer can change from one minute to the next.
 *
 *   cc -O2 -pthread bench/core_latency.c -o /tmp/core_latency && \
 *     /tmp/core_latency
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { kRoundTrips = 200000, kRuns = 5 };

static _Atomic long flag __attribute__((aligned(64)));

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The other side: answers each odd value with the next even one. */
static void *answer(void *unused) {
  (void)unused;
  for (long i = 0; i < kRoundTrips; ++i) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1)
      ;
    atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

int main(void) {
  double best = 1e9;
  for (int run = 0; run < kRuns; ++run) {
    atomic_store(&flag, 0);
    pthread_t other;
    if (pthread_create(&other, NULL, answer, NULL) != 0) {
      fprintf(stderr, "core_latency: cannot start a second thread\n");
      return 1;
    }
    double start = now_s();
    for (long i = 0; i < kRoundTrips; ++i) {
      atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2)
        ;
    }
    double ns = (now_s() - start) / kRoundTrips * 1e9;
    pthread_join(other, NULL);
    printf("run %d: %.0f ns a round trip\n", run + 1, ns);
    if (ns < best)
      best = ns;
  }
  printf("best: %.0f ns a round trip between two threads\n", best);
  return 0;
}
