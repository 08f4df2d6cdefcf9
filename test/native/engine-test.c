/*
 * Tests of the relay engine (native/relay-engine.c) without Node: real TCP
 * sockets on 127.0.0.1, the engine linked in directly. Built and run by
 * test/unit/relay-engine.test.ts with AddressSanitizer, UBSan and
 * LeakSanitizer, -DRELAY_TEST_HOOKS, and
 *   -Wl,--wrap=epoll_wait,--wrap=epoll_ctl
 * so that a test can make the next epoll_wait or epoll_ctl fail.
 *
 * Prints TAP-like lines; exits 0 when every check passed.
 */
#define _GNU_SOURCE
#include "../../native/relay-engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int failures;
static int checks;

#define CHECK(cond, ...) check_((cond), __FILE__, __LINE__, __VA_ARGS__)
static int check_(int ok, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  checks++;
  printf("%s %d - ", ok ? "ok" : "not ok", checks);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  if (!ok) {
    printf(" (%s:%d)", file, line);
    failures++;
  }
  printf("\n");
  fflush(stdout);
  return ok;
}

static void die(const char *what) {
  printf("Bail out! %s: %s\n", what, strerror(errno));
  exit(2);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fault injection (the engine's epoll_wait/epoll_ctl calls come here) ---- */

int __real_epoll_wait(int ep, struct epoll_event *evs, int max, int timeout);
int __real_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev);

static int fail_wait_errno;   /* atomic: the next epoll_wait fails with this */
static int fail_ctl_op = -1;  /* atomic: the next epoll_ctl with this op fails... */
static int fail_ctl_errno;    /* ...with this errno (one shot) */
static int fail_ctl_skip;     /* ...after letting this many such calls through */

int __wrap_epoll_wait(int ep, struct epoll_event *evs, int max, int timeout) {
  int e = __atomic_exchange_n(&fail_wait_errno, 0, __ATOMIC_ACQ_REL);
  if (e) {
    errno = e;
    return -1;
  }
  return __real_epoll_wait(ep, evs, max, timeout);
}

int __wrap_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev) {
  if (__atomic_load_n(&fail_ctl_op, __ATOMIC_ACQUIRE) == op) {
    if (__atomic_fetch_sub(&fail_ctl_skip, 1, __ATOMIC_ACQ_REL) <= 0) {
      __atomic_store_n(&fail_ctl_op, -1, __ATOMIC_RELEASE);
      errno = __atomic_load_n(&fail_ctl_errno, __ATOMIC_ACQUIRE);
      return -1;
    }
  }
  return __real_epoll_ctl(ep, op, fd, ev);
}

static void fail_next_ctl(int op, int err, int skip) {
  __atomic_store_n(&fail_ctl_errno, err, __ATOMIC_RELEASE);
  __atomic_store_n(&fail_ctl_skip, skip, __ATOMIC_RELEASE);
  __atomic_store_n(&fail_ctl_op, op, __ATOMIC_RELEASE);
}

/* ---- the idle scan hook ---- */

static int hook_armed;  /* atomic */
static sem_t hook_reached, hook_go;

void relay_test_scan_end(relay_t *r, int64_t found) {
  (void)r;
  /* the scan that found no tunnel with a timeout left: pause it before it publishes that */
  if (found == 0 && __atomic_exchange_n(&hook_armed, 0, __ATOMIC_ACQ_REL)) {
    if (sem_post(&hook_reached) != 0) die("sem_post");
    while (sem_wait(&hook_go) != 0)
      if (errno != EINTR) die("sem_wait");
  }
}

/* ---- a relay and its reports ---- */

#define MAX_REPORTS 4096

typedef struct {
  relay_t *r;
  double *counters;
  int evfd;        /* notify() writes here */
  int notified;    /* atomic count */
  relay_report_t reports[MAX_REPORTS];
  int nreports;
} fixture_t;

static int on_notify(void *ctx) {
  fixture_t *f = ctx;
  uint64_t one = 1;
  __atomic_fetch_add(&f->notified, 1, __ATOMIC_RELAXED);
  return write(f->evfd, &one, sizeof one) == (ssize_t)sizeof one ? 0 : -1;
}

static void on_report(void *ctx, const relay_report_t *rep) {
  fixture_t *f = ctx;
  if (f->nreports < MAX_REPORTS) f->reports[f->nreports++] = *rep;
}

static void start(fixture_t *f, uint32_t pipe_size) {
  memset(f, 0, sizeof *f);
  f->counters = calloc((size_t)RELAY_MAX_SLOTS * 2, sizeof(double));
  if (!f->counters) die("calloc");
  f->evfd = eventfd(0, EFD_CLOEXEC);
  if (f->evfd < 0) die("eventfd");
  relay_opts_t o = { f->counters, pipe_size, on_notify, f };
  int err = relay_start(&f->r, &o);
  if (err) {
    errno = err;
    die("relay_start");
  }
}

static void stop(fixture_t *f) {
  relay_stop(f->r);
  f->r = NULL;
  free(f->counters);
  if (close(f->evfd) != 0) die("close");
}

/* Wait for a notification (up to ms) and take the reports. Returns how many came. */
static int take(fixture_t *f, int ms) {
  struct pollfd pfd = { f->evfd, POLLIN, 0 };
  int n = poll(&pfd, 1, ms);
  if (n < 0 && errno != EINTR) die("poll");
  if (n > 0) {
    uint64_t v;
    if (read(f->evfd, &v, sizeof v) < 0) die("read eventfd");
  }
  return (int)relay_take(f->r, on_report, f);
}

/* Take reports until `want` in all, or ms elapsed. */
static int take_until(fixture_t *f, int want, int ms) {
  int64_t end = mono_ms() + ms;
  while (f->nreports < want) {
    int64_t left = end - mono_ms();
    if (left <= 0) break;
    take(f, (int)(left > 100 ? 100 : left));
  }
  return f->nreports;
}

static const relay_report_t *report_of(fixture_t *f, int32_t id) {
  for (int i = 0; i < f->nreports; i++)
    if ((int32_t)f->reports[i].id == id) return &f->reports[i];
  return NULL;
}

/* ---- sockets ---- */

static int listener_fd = -1;
static struct sockaddr_in listen_addr;

/* A connected TCP pair over 127.0.0.1: out[0] the connecting end, out[1] the accepted one (both non-blocking). */
static void tcp_pair(int out[2]) {
  if (listener_fd < 0) {
    listener_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_fd < 0) die("socket");
    memset(&listen_addr, 0, sizeof listen_addr);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof listen_addr;
    if (bind(listener_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) die("bind");
    if (getsockname(listener_fd, (struct sockaddr *)&listen_addr, &len) != 0) die("getsockname");
    if (listen(listener_fd, 512) != 0) die("listen");
  }
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) die("socket");
  if (connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) die("connect");
  int a = accept4(listener_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (a < 0) die("accept4");
  int fl = fcntl(c, F_GETFL);
  if (fl < 0 || fcntl(c, F_SETFL, fl | O_NONBLOCK) != 0) die("fcntl");
  out[0] = c;
  out[1] = a;
}

static void xclose(int fd) {
  if (fd >= 0 && close(fd) != 0) die("close");
}

/*
 * A tunnel as lb4 builds it: the client (cpeer) connected to lb4's client
 * socket, lb4's backend socket connected to the backend (bpeer). The relay
 * gets lb4's two sockets; like lb4, we close our descriptors of them after
 * adopt (the relay has duplicates).
 */
typedef struct {
  int cpeer, bpeer;
  int32_t id;
} tunnel_t;

static int32_t open_tunnel(fixture_t *f, tunnel_t *t, int64_t idle_ms) {
  int c[2], b[2];
  tcp_pair(c);
  tcp_pair(b);
  t->cpeer = c[0];
  t->bpeer = b[1];
  t->id = relay_adopt(f->r, c[1], b[0], idle_ms, 0);
  xclose(c[1]);
  xclose(b[0]);
  return t->id;
}

static void close_peers(tunnel_t *t) {
  xclose(t->cpeer);
  xclose(t->bpeer);
  t->cpeer = t->bpeer = -1;
}

/* Close with a reset (SO_LINGER {1, 0}). */
static void reset_close(int fd) {
  struct linger lg = { 1, 0 };
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) die("setsockopt");
  xclose(fd);
}

/*
 * Read fd until EOF, a reset or ms. Returns 0 for EOF, the errno of a
 * failed read (ECONNRESET for a reset), or ETIMEDOUT.
 */
static int read_end(int fd, int ms) {
  int64_t end = mono_ms() + ms;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return 0;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errno;
    if (n > 0) continue;
    int64_t left = end - mono_ms();
    if (left <= 0) return ETIMEDOUT;
    struct pollfd pfd = { fd, POLLIN, 0 };
    if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) die("poll");
  }
}

/* The byte at stream offset i of stream `seed` (cheap, position-dependent). */
static inline unsigned char pattern(uint64_t seed, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
  x ^= x >> 29;
  return (unsigned char)(x * 0xBF58476D1CE4E5B9ull >> 56);
}

/*
 * Send `up` bytes client -> backend and `down` bytes backend -> client at
 * once, each side half-closing when done, and check every byte received.
 * A side starts reading only once the other side has sent everything or is
 * blocked, so the relay reads from full socket buffers (full 64 KiB reads:
 * what moves a bulk direction to splice). Returns 1 when both sides
 * received everything, in order, then EOF.
 */
static int exchange(tunnel_t *t, uint64_t up, uint64_t down, int ms) {
  uint64_t sent[2] = { 0, 0 }, got[2] = { 0, 0 }, want[2] = { up, down };
  int fd[2] = { t->cpeer, t->bpeer }; /* side k sends stream k, receives stream 1 - k */
  int shut[2] = { 0, 0 }, eof[2] = { 0, 0 }, blocked[2] = { 0, 0 }, bad = 0;
  char buf[65536];
  int64_t end = mono_ms() + ms;
  while (!(eof[0] && eof[1])) {
    if (mono_ms() > end) {
      printf("# exchange timed out: sent %llu/%llu, got %llu/%llu\n", (unsigned long long)sent[0], (unsigned long long)sent[1],
             (unsigned long long)got[0], (unsigned long long)got[1]);
      return 0;
    }
    struct pollfd pfd[2];
    for (int k = 0; k < 2; k++) {
      pfd[k].fd = fd[k];
      int reading = !eof[k] && (sent[1 - k] == want[1 - k] || blocked[1 - k]);
      pfd[k].events = (short)((reading ? POLLIN : 0) | (sent[k] < want[k] ? POLLOUT : 0));
      pfd[k].revents = 0;
    }
    if (poll(pfd, 2, 100) < 0 && errno != EINTR) die("poll");
    for (int k = 0; k < 2; k++) {
      if (sent[k] < want[k]) {
        size_t n = want[k] - sent[k] < sizeof buf ? (size_t)(want[k] - sent[k]) : sizeof buf;
        n = n > 1 + (sent[k] * 7919) % 50000 ? 1 + (size_t)((sent[k] * 7919) % 50000) : n; /* uneven writes */
        for (size_t i = 0; i < n; i++) buf[i] = (char)pattern((uint64_t)k, sent[k] + i);
        ssize_t w = send(fd[k], buf, n, MSG_NOSIGNAL);
        if (w > 0) sent[k] += (uint64_t)w;
        else if (w < 0 && errno == EAGAIN) blocked[k] = 1;
        else if (w < 0 && errno != EINTR) die("send");
      }
      if (sent[k] == want[k] && !shut[k]) {
        if (shutdown(fd[k], SHUT_WR) != 0) die("shutdown");
        shut[k] = 1;
      }
      if (!eof[k] && (sent[1 - k] == want[1 - k] || blocked[1 - k])) {
        ssize_t n = recv(fd[k], buf, sizeof buf, 0);
        if (n == 0) eof[k] = 1;
        else if (n < 0 && errno != EAGAIN && errno != EINTR) die("recv");
        for (ssize_t i = 0; i < n; i++)
          if ((unsigned char)buf[i] != pattern((uint64_t)(1 - k), got[k] + (uint64_t)i)) bad = 1;
        if (n > 0) got[k] += (uint64_t)n;
      }
    }
  }
  return !bad && got[0] == down && got[1] == up;
}

/* ---- tests ---- */

static void test_bytes_both_ways(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t t;
  CHECK(open_tunnel(f, &t, 0) >= 0, "adopt a tunnel");
  /* 3 MiB up: past SPLICE_AFTER, so that direction moves to splice */
  CHECK(exchange(&t, 3u << 20, 100000, 20000), "3 MiB up and 100 kB down, every byte in order, then both EOFs");
  CHECK(take_until(f, 1, 5000) == 1, "one report");
  const relay_report_t *rep = report_of(f, t.id);
  CHECK(rep && (rep->reason == RELAY_END_CLIENT_CLOSE || rep->reason == RELAY_END_BACKEND_CLOSE) && rep->err == 0,
        "ended by a close (the first EOF names which), no error");
  CHECK(rep && rep->bytes_in == 3 << 20 && rep->bytes_out == 100000, "byte counts exact (%.0f in, %.0f out)", rep ? rep->bytes_in : -1,
        rep ? rep->bytes_out : -1);
  relay_stats_t st;
  relay_stats(f->r, &st);
  CHECK(st.pipes_opened >= 1 && st.pipes_refused == 0, "the bulk direction went to a splice pipe (opened %llu)", (unsigned long long)st.pipes_opened);
  CHECK(st.pipes == 0 && st.live == 0 && st.high_slot == 0, "nothing left: pipes %u, live %u, high slot %u", st.pipes, st.live, st.high_slot);
  close_peers(&t);
  stop(f);
  free(f);
}

static void test_small_pipe_refused(void) {
  fixture_t *f = calloc(1, sizeof *f);
  /* one page: what a pipe gets past pipe-user-pages-soft is two; either is below RELAY_MIN_PIPE */
  start(f, 4096);
  tunnel_t t;
  CHECK(open_tunnel(f, &t, 0) >= 0, "adopt a tunnel");
  CHECK(exchange(&t, 2u << 20, 2u << 20, 20000), "2 MiB each way over a relay whose pipes come out 4 KiB");
  CHECK(take_until(f, 1, 5000) == 1, "one report");
  const relay_report_t *rep = report_of(f, t.id);
  CHECK(rep && rep->bytes_in == 2 << 20 && rep->bytes_out == 2 << 20, "byte counts exact");
  relay_stats_t st;
  relay_stats(f->r, &st);
  CHECK(st.pipes_opened == 0, "no pipe used (%llu)", (unsigned long long)st.pipes_opened);
  CHECK(st.pipes_refused == 2, "both bulk directions refused their 4 KiB pipe and kept copying (%llu)", (unsigned long long)st.pipes_refused);
  close_peers(&t);
  stop(f);
  free(f);
}

static void test_reset_reaches_other_side(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t a, b;
  CHECK(open_tunnel(f, &a, 0) >= 0 && open_tunnel(f, &b, 0) >= 0, "adopt two tunnels");
  reset_close(a.bpeer);
  a.bpeer = -1;
  CHECK(read_end(a.cpeer, 5000) == ECONNRESET, "a backend reset reaches the client as a reset");
  reset_close(b.cpeer);
  b.cpeer = -1;
  CHECK(read_end(b.bpeer, 5000) == ECONNRESET, "a client reset reaches the backend as a reset");
  CHECK(take_until(f, 2, 5000) == 2, "two reports");
  const relay_report_t *ra = report_of(f, a.id), *rb = report_of(f, b.id);
  CHECK(ra && ra->reason == RELAY_END_BACKEND_ERROR && ra->err == ECONNRESET, "backend-error, ECONNRESET (%d)", ra ? ra->err : -1);
  CHECK(rb && rb->reason == RELAY_END_CLIENT_ERROR && rb->err == ECONNRESET, "client-error, ECONNRESET (%d)", rb ? rb->err : -1);
  xclose(a.cpeer);
  xclose(b.bpeer);
  stop(f);
  free(f);
}

static void test_clean_close_is_a_fin(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t t;
  CHECK(open_tunnel(f, &t, 0) >= 0, "adopt a tunnel");
  xclose(t.bpeer);
  t.bpeer = -1;
  CHECK(read_end(t.cpeer, 5000) == 0, "a clean close of the backend reaches the client as a FIN");
  xclose(t.cpeer);
  CHECK(take_until(f, 1, 5000) == 1 && f->reports[0].reason == RELAY_END_BACKEND_CLOSE, "backend-close");
  stop(f);
  free(f);
}

static void test_epoll_ctl_failures(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  /* adopt: the second EPOLL_CTL_ADD fails; nothing is left registered or open, the slot comes back */
  int c[2], b[2];
  tcp_pair(c);
  tcp_pair(b);
  fail_next_ctl(EPOLL_CTL_ADD, ENOSPC, 1);
  int32_t id = relay_adopt(f->r, c[1], b[0], 0, 0);
  CHECK(id == -ENOSPC, "adopt returns -ENOSPC when epoll_ctl(ADD) fails (%d)", id);
  relay_stats_t st;
  relay_stats(f->r, &st);
  CHECK(st.live == 0 && st.high_slot == 0, "no tunnel, no slot held (live %u, high %u)", st.live, st.high_slot);
  id = relay_adopt(f->r, c[1], b[0], 0, 0);
  CHECK(id >= 0 && (id & RELAY_SLOT_MASK) == 0, "the next adopt takes slot 0 (id %d)", id);
  xclose(c[1]);
  xclose(b[0]);
  tunnel_t t = { c[0], b[1], id };

  /* The backend stops reading: the relay's send to it fills up, and the
   * relay changes its interests (client side leaves the set, backend side
   * asks for EPOLLOUT). That EPOLL_CTL_MOD fails: the tunnel must fail with
   * that errno (and the client get a reset), not stay frozen. */
  fail_next_ctl(EPOLL_CTL_MOD, ENOMEM, 0);
  char buf[65536];
  memset(buf, 'x', sizeof buf);
  int64_t end = mono_ms() + 10000;
  while (f->nreports == 0 && mono_ms() < end) {
    ssize_t w = send(t.cpeer, buf, sizeof buf, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EPIPE && errno != ECONNRESET) die("send");
    if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) break;
    take(f, 10);
  }
  take_until(f, 1, 5000);
  const relay_report_t *rep = report_of(f, t.id);
  CHECK(rep != NULL, "the tunnel ended when epoll_ctl(MOD) failed");
  CHECK(rep && rep->reason == RELAY_END_BACKEND_ERROR && rep->err == ENOMEM, "backend-error with that errno, ENOMEM (reason %d, errno %d)",
        rep ? rep->reason : -1, rep ? rep->err : -1);
  CHECK(read_end(t.cpeer, 5000) == ECONNRESET, "and the client got a reset");
  close_peers(&t);
  stop(f);
  free(f);
}

static void test_epoll_wait_failure(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t t[3];
  int ok = 1;
  for (int i = 0; i < 3; i++) ok = ok && open_tunnel(f, &t[i], 60000) >= 0;
  CHECK(ok, "adopt 3 tunnels");
  int before = __atomic_load_n(&f->notified, __ATOMIC_RELAXED);
  __atomic_store_n(&fail_wait_errno, EBADF, __ATOMIC_RELEASE);
  CHECK(relay_close(f->r, 0x7fffffff, RELAY_END_SHUTDOWN) == 0, "wake the relay thread (a close of no tunnel)");
  CHECK(take_until(f, 3, 5000) == 3, "every tunnel is reported when epoll_wait fails");
  int all = 1;
  for (int i = 0; i < 3; i++) {
    const relay_report_t *rep = report_of(f, t[i].id);
    all = all && rep && rep->reason == RELAY_END_SHUTDOWN && rep->err == EBADF;
  }
  CHECK(all, "each as shutdown with errno EBADF");
  CHECK(__atomic_load_n(&f->notified, __ATOMIC_RELAXED) > before, "the owner was notified");
  relay_stats_t st;
  relay_stats(f->r, &st);
  CHECK(st.failed == EBADF, "stats say the relay thread failed with EBADF (%d)", st.failed);
  for (int i = 0; i < 3; i++) {
    CHECK(read_end(t[i].cpeer, 5000) == ECONNRESET && read_end(t[i].bpeer, 5000) == ECONNRESET, "tunnel %d: both sides reset", i);
    close_peers(&t[i]);
  }
  tunnel_t late;
  CHECK(open_tunnel(f, &late, 0) == -ESHUTDOWN, "adopt refuses with -ESHUTDOWN afterwards");
  close_peers(&late);
  stop(f); /* joins the thread that exited: must not hang */
  CHECK(1, "stop after a failure returns");
  free(f);
}

static void test_idle_race(void) {
  fixture_t *f = calloc(1, sizeof *f);
  if (sem_init(&hook_reached, 0, 0) != 0 || sem_init(&hook_go, 0, 0) != 0) die("sem_init");
  start(f, 0);
  tunnel_t a, b;
  CHECK(open_tunnel(f, &a, 50) >= 0, "adopt A, idle timeout 50 ms");
  __atomic_store_n(&hook_armed, 1, __ATOMIC_RELEASE);
  /* The scan that times A out finds no other tunnel with a timeout. It is
   * paused right before it publishes that; meanwhile B is adopted with a
   * 100 ms timeout. The scan must not wipe B's timeout out. */
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) die("clock_gettime");
  ts.tv_sec += 5;
  int reached = sem_timedwait(&hook_reached, &ts) == 0;
  CHECK(reached, "the idle scan that ended A reached the hook");
  int64_t adopted = mono_ms();
  CHECK(open_tunnel(f, &b, 100) >= 0, "adopt B, idle timeout 100 ms, while that scan runs");
  if (sem_post(&hook_go) != 0) die("sem_post");
  take_until(f, 2, 3000);
  const relay_report_t *rb = report_of(f, b.id);
  int64_t took = mono_ms() - adopted;
  CHECK(report_of(f, a.id) && report_of(f, a.id)->reason == RELAY_END_IDLE, "A ended by its idle timeout");
  CHECK(rb && rb->reason == RELAY_END_IDLE, "B ended by its idle timeout (not left without checks)");
  CHECK(rb && took < 1000, "B closed soon after its 100 ms (%lld ms)", (long long)took);
  close_peers(&a);
  close_peers(&b);
  stop(f);
  sem_destroy(&hook_reached);
  sem_destroy(&hook_go);
  free(f);
}

static void test_slots_shrink(void) {
  enum { N = 64 };
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t t[N];
  int ok = 1;
  for (int i = 0; i < N; i++) ok = ok && open_tunnel(f, &t[i], 0) >= 0 && (t[i].id & RELAY_SLOT_MASK) == (uint32_t)i;
  CHECK(ok, "%d tunnels take slots 0..%d", N, N - 1);
  relay_stats_t st;
  relay_stats(f->r, &st);
  CHECK(st.high_slot == N, "scan bound %u", st.high_slot);
  ok = 1;
  for (int i = N / 2; i < N; i++) ok = ok && relay_close(f->r, (uint32_t)t[i].id, RELAY_END_SHUTDOWN) == 0;
  CHECK(ok, "close slots %d..%d", N / 2, N - 1);
  take_until(f, N / 2, 5000);
  relay_stats(f->r, &st);
  CHECK(st.high_slot == N / 2 && st.live == N / 2, "the top half closed: the scan bound comes down to %d (%u)", N / 2, st.high_slot);
  CHECK(relay_close(f->r, (uint32_t)t[5].id, RELAY_END_SHUTDOWN) == 0, "close slot 5");
  take_until(f, N / 2 + 1, 5000);
  relay_stats(f->r, &st);
  CHECK(st.high_slot == N / 2, "a hole below the top leaves the bound (%u)", st.high_slot);
  tunnel_t again;
  CHECK(open_tunnel(f, &again, 0) >= 0 && (again.id & RELAY_SLOT_MASK) == 5 && again.id != t[5].id,
        "the next tunnel takes the lowest free slot, 5, with a new generation");
  ok = relay_close(f->r, (uint32_t)again.id, RELAY_END_SHUTDOWN) == 0;
  for (int i = 0; i < N / 2; i++)
    if (i != 5) ok = ok && relay_close(f->r, (uint32_t)t[i].id, RELAY_END_SHUTDOWN) == 0;
  CHECK(ok, "close the rest");
  take_until(f, N + 1, 5000);
  relay_stats(f->r, &st);
  CHECK(st.high_slot == 0 && st.live == 0, "all closed: bound 0 (%u), live 0 (%u)", st.high_slot, st.live);
  int reasons = 1;
  for (int i = 0; i < f->nreports; i++) reasons = reasons && f->reports[i].reason == RELAY_END_SHUTDOWN;
  CHECK(reasons, "every close reported as shutdown");
  for (int i = 0; i < N; i++) close_peers(&t[i]);
  close_peers(&again);
  stop(f);
  free(f);
}

static void test_stop_with_live_tunnels(void) {
  fixture_t *f = calloc(1, sizeof *f);
  start(f, 0);
  tunnel_t t[4];
  int ok = 1;
  for (int i = 0; i < 4; i++) ok = ok && open_tunnel(f, &t[i], 1000) >= 0;
  CHECK(ok, "adopt 4 tunnels");
  /* one ended and not yet taken: its report is freed by stop */
  CHECK(relay_close(f->r, (uint32_t)t[0].id, RELAY_END_SHUTDOWN) == 0, "close one");
  take(f, 2000);
  f->nreports = 0;
  CHECK(relay_close(f->r, (uint32_t)t[1].id, RELAY_END_SHUTDOWN) == 0, "close another, left untaken");
  int64_t end = mono_ms() + 2000;
  while (read_end(t[1].cpeer, 10) == ETIMEDOUT && mono_ms() < end) {
  }
  stop(f); /* joins, closes the two live tunnels, frees everything (LeakSanitizer checks) */
  CHECK(read_end(t[2].cpeer, 2000) == 0 && read_end(t[3].bpeer, 2000) == 0, "stop closes the live tunnels");
  for (int i = 0; i < 4; i++) close_peers(&t[i]);
  free(f);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_bytes_both_ways();
  test_small_pipe_refused();
  test_reset_reaches_other_side();
  test_clean_close_is_a_fin();
  test_epoll_ctl_failures();
  test_epoll_wait_failure();
  test_idle_race();
  test_slots_shrink();
  test_stop_with_live_tunnels();
  if (strcmp(relay_end_names[RELAY_END_IDLE], "idle-timeout") != 0) failures++;
  xclose(listener_fd);
  printf("1..%d\n# %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
