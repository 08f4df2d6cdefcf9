/*
 * A fault for test/integration/l4/relay-ops.test.ts, preloaded into a real
 * lb4 (LD_PRELOAD): once the file named by LB4_TEST_EPOLL_FAIL_FILE exists,
 * every epoll_wait of the relay's thread (named lb4-relay) fails with EBADF,
 * as if its epoll set were gone. Node's own threads are left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);

int epoll_wait(int ep, struct epoll_event *evs, int max, int timeout) {
  static epoll_wait_fn real;
  if (!real) {
    real = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
    if (!real) abort();
  }
  char name[17] = { 0 };
  const char *trigger = getenv("LB4_TEST_EPOLL_FAIL_FILE");
  if (trigger && prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && strcmp(name, "lb4-relay") == 0 && access(trigger, F_OK) == 0) {
    errno = EBADF;
    return -1;
  }
  return real(ep, evs, max, timeout);
}
