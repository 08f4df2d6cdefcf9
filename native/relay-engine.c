/*
 * lb4's native L4 relay engine (Linux): moves the bytes of plain TCP tunnels
 * on one epoll thread, off Node's event loop. The API and the threading
 * rules are in relay-engine.h; native/relay-addon.c is the Node-API binding.
 *
 * Why this exists: profiles of the JavaScript tunnel (perf/CHANGELOG.md) put
 * almost all of its cost in Node's stream machinery around each syscall (a
 * fresh 64 KiB buffer per read, a Buffer object and a write request per
 * chunk, GC) and in the two net.Socket objects each idle connection keeps
 * (about 10 KB). Node offers no splice and no reusable read buffer for
 * accepted sockets, so no JavaScript tunnel gets near HAProxy. Once a
 * tunnel's two sockets are connected, lb4 hands their descriptors here: the
 * relay reads into one buffer shared by every tunnel and writes straight to
 * the other side, as HAProxy does without splicing. Everything before that
 * (accept, peek, choose, connect, retries) stays in TypeScript, and so does
 * everything that is not a plain socket (TLS termination, upstream TLS, L7).
 *
 * Contract, the same as src/l4/tunnel.ts:
 * - bytes both ways, unchanged and in order, with backpressure: when the
 *   other side cannot take all of a read, the rest (at most one read) waits
 *   in a per-direction buffer and that side is not read again until it is
 *   written; memory per tunnel is bounded by two such buffers;
 * - half-close: an EOF read on one side shuts the other side's write half
 *   once its pending bytes are written; the tunnel ends when both
 *   directions have ended;
 * - a read or write error on one side (a reset) closes both, and the other
 *   side is closed with a reset too (SO_LINGER {1, 0} before close), never
 *   with a clean FIN that would pass a broken stream off as complete; the
 *   idle timeout closes both when no byte moved either way;
 * - relay_close() closes both now (drain deadline, admin).
 *
 * Every system call's result is checked. What cannot be acted on is said
 * where it happens (a failed EPOLL_CTL_DEL right before close(), a failed
 * SO_LINGER before close()).
 */
#define _GNU_SOURCE
#include "relay-engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
/* Reads in a row from one socket before serving the others (fairness). */
#define MAX_READS_PER_EVENT 16
#define MAX_EVENTS 256
#define EVFD_TAG UINT64_MAX
/* The longest sleep of the relay thread (ms): also the latest a lost wake-up is made good. */
#define MAX_SLEEP_MS 1000

/*
 * Bulk directions switch from copying to splice(2): once a direction has
 * moved SPLICE_AFTER bytes in full-buffer reads, it gets a pipe, and bytes
 * go socket -> pipe -> socket inside the kernel, never copied to us (what
 * HAProxy's "option splice-auto" does). Small and interactive tunnels never
 * pay the pipe's two descriptors.
 */
#define SPLICE_AFTER (256 * 1024)

/* Slot bitmap: bit set = slot in use (owner's thread only). */
#define SLOT_WORDS (RELAY_MAX_SLOTS / 64)
#define SUMMARY_WORDS (SLOT_WORDS / 64)

#define RELAY_END_NAME(name, text) text,
const char *const relay_end_names[RELAY_END_COUNT] = { RELAY_END_LIST(RELAY_END_NAME) };
#undef RELAY_END_NAME

/* One direction: read from fd[k], written to fd[1 - k]. */
typedef struct {
  char *pend;        /* bytes read and not yet written, or NULL */
  uint32_t pend_len; /* bytes left in pend */
  uint32_t pend_off;
  int pipe_r, pipe_w; /* the splice pipe, or -1 */
  uint32_t pipe_cap;  /* its real size (F_GETPIPE_SZ) */
  uint32_t piped;     /* bytes in the pipe, not yet written */
  uint8_t no_pipe;    /* no pipe for this direction (none to be had, or too small): keep copying */
  uint8_t eof;        /* read() returned 0 */
  uint8_t shut;       /* the other side's write half is shut down */
} dir_t;

typedef struct pair {
  uint32_t id;
  int fd[2];        /* 0: client, 1: backend */
  uint32_t mask[2]; /* epoll interest now registered (0: not registered) */
  dir_t d[2];       /* d[0]: client -> backend, d[1]: backend -> client */
  int64_t last_ms;
  int64_t idle_ms;
  int reason;
  int err;
  double final_in, final_out;
  struct pair *next; /* in the finished list */
} pair_t;

typedef struct {
  uint32_t id;
  int reason;
} cmd_t;

struct relay {
  int ep, evfd;
  pthread_t thread;
  int thread_started;
  int stopping;             /* atomic */
  int failed;               /* atomic; set under mu */
  pthread_mutex_t mu;
  /* under mu: */
  cmd_t *cmds;
  uint32_t ncmds, cap_cmds;
  pair_t *done_head, *done_tail;
  int notify_pending;
  /* set at start: */
  int (*notify)(void *ctx);
  void *ctx;
  double *counters;
  uint32_t pipe_size;
  pair_t **slots;           /* published by the owner (release), cleared by the relay thread */
  uint32_t high_slot;       /* atomic; written by the owner only */
  /*
   * The shortest idle timeout of live tunnels (ms, 0: none), which sets how
   * often the relay thread scans. adopt lowers it (after publishing its
   * tunnel); an idle scan resets it to 0 when it starts and folds in the
   * shortest it found when it ends, both as atomic minimums, so that a
   * tunnel adopted while the scan runs (and perhaps not seen by it) keeps
   * its lower value.
   */
  int64_t min_idle;
  /* stats, written by the relay thread (atomics): */
  uint32_t st_pipes;
  uint64_t st_pipes_opened, st_pipes_refused;
  /* owner only: */
  uint16_t *gen;
  uint32_t live;
  uint64_t used[SLOT_WORDS];
  uint64_t has_free[SUMMARY_WORDS]; /* bit w: used[w] has a free slot */
  uint64_t has_used[SUMMARY_WORDS]; /* bit w: used[w] has a slot in use */
  /* relay thread only: */
  int64_t last_scan;
  char buf[READ_BUF];
};

static int64_t now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0 && clock_gettime(CLOCK_MONOTONIC, &ts) != 0) abort(); /* no monotonic clock: cannot happen on Linux */
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* close() on Linux frees the descriptor whatever it returns (EINTR included): nothing to retry. */
static void close_fd(int fd) {
  if (fd >= 0 && close(fd) != 0 && errno != EINTR) {
    /* EIO and the like concern data already handed to the kernel: the descriptor is gone either way */
  }
}

/* Make the next close() of fd send a reset rather than a FIN. */
static void set_abortive(int fd) {
  struct linger lg = { 1, 0 };
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
    /* only fails for a descriptor that is not a socket: the close then sends what it sends */
  }
}

/* Wake the relay thread. A failed write (the counter cannot overflow in practice) costs at most one MAX_SLEEP_MS sleep. */
static int wake(relay_t *r) {
  uint64_t one = 1;
  for (;;) {
    if (write(r->evfd, &one, sizeof one) == (ssize_t)sizeof one) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Atomically lower *w to v (v > 0; 0 in *w means none). Returns 1 when it lowered. */
static int lower_min(int64_t *w, int64_t v) {
  int64_t cur = __atomic_load_n(w, __ATOMIC_RELAXED);
  while (cur == 0 || v < cur) {
    if (__atomic_compare_exchange_n(w, &cur, v, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return 1;
  }
  return 0;
}

/* ---- relay thread ---- */

/* Tell the owner reports are waiting (once per batch; again later when it could not be told). */
static void tell_owner(relay_t *r) {
  int tell;
  pthread_mutex_lock(&r->mu);
  tell = !r->notify_pending;
  r->notify_pending = 1;
  pthread_mutex_unlock(&r->mu);
  if (tell && r->notify && r->notify(r->ctx) != 0) {
    pthread_mutex_lock(&r->mu);
    r->notify_pending = 0;
    pthread_mutex_unlock(&r->mu);
  }
}

static void close_pipe(relay_t *r, dir_t *d) {
  if (d->pipe_r < 0) return;
  close_fd(d->pipe_r);
  close_fd(d->pipe_w);
  d->pipe_r = d->pipe_w = -1;
  __atomic_fetch_sub(&r->st_pipes, 1, __ATOMIC_RELAXED);
}

/* abort_mask: bit s set = close side s with a reset. */
#define ABORT_CLIENT 1
#define ABORT_BACKEND 2

/*
 * Close both sockets and queue the report. The relay thread must not touch
 * the pair afterwards: the owner frees it once it has taken the report.
 */
static void finish(relay_t *r, pair_t *p, int reason, int err, int abort_mask) {
  uint32_t slot = p->id & RELAY_SLOT_MASK;
  if (p->reason == RELAY_END_NONE) {
    p->reason = reason;
    p->err = err;
  }
  for (int s = 0; s < 2; s++) {
    if (p->mask[s] != 0 && epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[s], NULL) != 0) {
      /* Cannot fail for a registered descriptor; if it did, close() below
       * still drops the registration, and a stray event carries this
       * tunnel's id, which no live tunnel has. */
    }
    p->mask[s] = 0;
    if (abort_mask & (1 << s)) set_abortive(p->fd[s]);
    close_fd(p->fd[s]);
    p->fd[s] = -1;
    free(p->d[s].pend);
    p->d[s].pend = NULL;
    close_pipe(r, &p->d[s]);
  }
  p->final_in = r->counters[slot * 2];
  p->final_out = r->counters[slot * 2 + 1];
  p->next = NULL;
  __atomic_store_n(&r->slots[slot], NULL, __ATOMIC_RELEASE);
  pthread_mutex_lock(&r->mu);
  if (r->done_tail) r->done_tail->next = p;
  else r->done_head = p;
  r->done_tail = p;
  pthread_mutex_unlock(&r->mu);
  tell_owner(r);
}

/* An error on side `side` ends the tunnel; the other side learns it by a reset. */
static void fail(relay_t *r, pair_t *p, int side, int err) {
  finish(r, p, side == 0 ? RELAY_END_CLIENT_ERROR : RELAY_END_BACKEND_ERROR, err, side == 0 ? ABORT_BACKEND : ABORT_CLIENT);
}

/* Bytes of direction d read and not yet written. */
static inline uint32_t waiting(const dir_t *d) {
  return d->pend_len + d->piped;
}

/* Register the interest `want` for side s. 0, or the errno of epoll_ctl. */
static int set_interest(relay_t *r, pair_t *p, int s, uint32_t want) {
  if (want == p->mask[s]) return 0;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = want;
  ev.data.u64 = ((uint64_t)p->id << 1) | (uint64_t)s;
  int rc;
  if (want == 0) {
    /* Not interested in anything: leave the set, so that a hang-up (always
     * reported) cannot wake us in a loop. Errors surface on the next read or
     * write, which the other side's events or the idle timeout bring. */
    rc = epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[s], &ev);
  } else if (p->mask[s] == 0) {
    rc = epoll_ctl(r->ep, EPOLL_CTL_ADD, p->fd[s], &ev);
  } else {
    rc = epoll_ctl(r->ep, EPOLL_CTL_MOD, p->fd[s], &ev);
  }
  if (rc != 0) return errno;
  p->mask[s] = want;
  return 0;
}

/* 0, or -1 after the pair was finished (an epoll_ctl error fails the side it was for). */
static int update_interest(relay_t *r, pair_t *p) {
  for (int s = 0; s < 2; s++) {
    uint32_t want = 0;
    if (!p->d[s].eof && waiting(&p->d[s]) == 0) want |= EPOLLIN;
    if (waiting(&p->d[1 - s]) > 0) want |= EPOLLOUT;
    int err = set_interest(r, p, s, want);
    if (err) {
      fail(r, p, s, err);
      return -1;
    }
  }
  return 0;
}

/* The first end of a direction names the reason when nothing else did. */
static void note_eof(pair_t *p, int s) {
  p->d[s].eof = 1;
  if (p->reason == RELAY_END_NONE) p->reason = s == 0 ? RELAY_END_CLIENT_CLOSE : RELAY_END_BACKEND_CLOSE;
}

/* Shut the write half of fd[1 - k] once direction k has ended and is flushed. 0, or an errno of side 1 - k. */
static int maybe_shut(pair_t *p, int k) {
  dir_t *d = &p->d[k];
  if (d->eof && !d->shut && waiting(d) == 0) {
    /* ENOTCONN: side 1 - k was reset meanwhile; its next read says so */
    if (shutdown(p->fd[1 - k], SHUT_WR) != 0 && errno != ENOTCONN) return errno;
    d->shut = 1;
  }
  return 0;
}

/* Write direction k's pending bytes. Returns 0, or an errno of the writing side (1 - k). */
static int flush(pair_t *p, int k) {
  dir_t *d = &p->d[k];
  while (d->pend_len > 0) {
    ssize_t w = send(p->fd[1 - k], d->pend + d->pend_off, d->pend_len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    d->pend_off += (uint32_t)w;
    d->pend_len -= (uint32_t)w;
  }
  if (d->pend) {
    free(d->pend);
    d->pend = NULL;
    d->pend_off = 0;
  }
  while (d->piped > 0) {
    /* splice() has no MSG_NOSIGNAL: a peer gone raises SIGPIPE, which Node
     * ignores process-wide (SIG_IGN at start-up), so this returns EPIPE. */
    ssize_t w = splice(d->pipe_r, NULL, p->fd[1 - k], NULL, d->piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    d->piped -= (uint32_t)w;
  }
  return maybe_shut(p, k);
}

/*
 * Give direction d a splice pipe of at least RELAY_MIN_PIPE; otherwise it
 * goes on copying for good. The kernel may hand out less than asked: past
 * /proc/sys/fs/pipe-user-pages-soft a user's new pipes get 8 KiB and
 * F_SETPIPE_SZ fails, and past pipe-max-size it fails too. A pipe that
 * small would cut every splice into 8 KiB pieces (more system calls than
 * copying 64 KiB at a time), so it is closed.
 */
static void open_pipe(relay_t *r, dir_t *d) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    d->no_pipe = 1; /* EMFILE/ENFILE: copying needs no descriptor */
    return;
  }
  if (fcntl(fds[1], F_SETPIPE_SZ, (int)r->pipe_size) < 0) {
    /* EPERM/EBUSY: the pipe keeps the size it has; F_GETPIPE_SZ says which */
  }
  int got = fcntl(fds[1], F_GETPIPE_SZ);
  if (got < RELAY_MIN_PIPE) { /* -1 included */
    close_fd(fds[0]);
    close_fd(fds[1]);
    d->no_pipe = 1;
    __atomic_fetch_add(&r->st_pipes_refused, 1, __ATOMIC_RELAXED);
    return;
  }
  d->pipe_r = fds[0];
  d->pipe_w = fds[1];
  d->pipe_cap = (uint32_t)got;
  __atomic_fetch_add(&r->st_pipes, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&r->st_pipes_opened, 1, __ATOMIC_RELAXED);
}

/* Direction s read its end: note it, and pass the FIN on once flushed. 0, or -1 after the pair was finished. */
static int read_end(relay_t *r, pair_t *p, int s) {
  note_eof(p, s);
  int err = maybe_shut(p, s);
  if (err) {
    fail(r, p, 1 - s, err);
    return -1;
  }
  return 0;
}

/* pump() for a direction with a pipe: socket -> pipe -> socket, no copy. */
static int pump_splice(relay_t *r, pair_t *p, int s, int64_t now) {
  dir_t *d = &p->d[s];
  double *count = &r->counters[(p->id & RELAY_SLOT_MASK) * 2 + s];
  for (int i = 0; i < MAX_READS_PER_EVENT && !d->eof && waiting(d) == 0; i++) {
    ssize_t n = splice(p->fd[s], NULL, d->pipe_w, NULL, d->pipe_cap, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0; /* the pipe is empty: the socket is */
      fail(r, p, s, errno);
      return -1;
    }
    if (n == 0) return read_end(r, p, s);
    *count += (double)n;
    p->last_ms = now;
    d->piped = (uint32_t)n;
    int err = flush(p, s);
    if (err) {
      fail(r, p, 1 - s, err);
      return -1;
    }
  }
  return 0;
}

/*
 * Read fd[s] and write what came to the other side until the socket is
 * empty, the other side is full, or the fairness bound. Returns 0, or -1
 * after the pair was finished (an error).
 */
static int pump(relay_t *r, pair_t *p, int s, int64_t now) {
  dir_t *d = &p->d[s];
  if (d->pipe_r >= 0) return pump_splice(r, p, s, now);
  int from = p->fd[s], to = p->fd[1 - s];
  double *count = &r->counters[(p->id & RELAY_SLOT_MASK) * 2 + s];
  for (int i = 0; i < MAX_READS_PER_EVENT && !d->eof && d->pend_len == 0; i++) {
    ssize_t n = recv(from, r->buf, READ_BUF, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      fail(r, p, s, errno);
      return -1;
    }
    if (n == 0) return read_end(r, p, s);
    *count += (double)n;
    p->last_ms = now;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = send(to, r->buf + off, (size_t)(n - off), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail(r, p, 1 - s, errno);
        return -1;
      }
      off += w;
    }
    if (off < n) {
      d->pend = malloc((size_t)(n - off));
      if (!d->pend) {
        fail(r, p, s, ENOMEM);
        return -1;
      }
      memcpy(d->pend, r->buf + off, (size_t)(n - off));
      d->pend_len = (uint32_t)(n - off);
      d->pend_off = 0;
      return 0;
    }
    if (n < READ_BUF) return 0; /* most likely empty now: let epoll say */
    if (!d->no_pipe && *count >= SPLICE_AFTER) {
      open_pipe(r, d);
      if (d->pipe_r >= 0) return pump_splice(r, p, s, now);
    }
  }
  return 0;
}

static void on_event(relay_t *r, pair_t *p, int s, uint32_t events, int64_t now) {
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd[s], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    fail(r, p, s, err ? err : ECONNRESET);
    return;
  }
  /* A hang-up with bytes waiting for this side: the write tells what happened. */
  if ((events & (EPOLLOUT | EPOLLHUP)) && waiting(&p->d[1 - s]) > 0) {
    int err = flush(p, 1 - s);
    if (err) {
      fail(r, p, s, err);
      return;
    }
    p->last_ms = now;
  }
  /* A hang-up with nothing to read is an EOF or an error: recv() tells which. */
  if (events & (EPOLLIN | EPOLLHUP)) {
    if (pump(r, p, s, now) < 0) return;
  }
  /* Bytes read from the other side may now fit too. */
  if ((events & EPOLLOUT) && waiting(&p->d[1 - s]) == 0 && !p->d[1 - s].eof) {
    if (pump(r, p, 1 - s, now) < 0) return;
  }
  if (p->d[0].shut && p->d[1].shut) {
    finish(r, p, RELAY_END_CLIENT_CLOSE, 0, 0); /* reason already set by the first EOF */
    return;
  }
  update_interest(r, p);
}

static void run_commands(relay_t *r) {
  uint64_t v;
  for (;;) {
    /* EAGAIN: a wake-up already consumed (several can fold into one) */
    if (read(r->evfd, &v, sizeof v) >= 0 || errno != EINTR) break;
  }
  for (;;) {
    cmd_t c;
    pthread_mutex_lock(&r->mu);
    if (r->ncmds == 0) {
      pthread_mutex_unlock(&r->mu);
      return;
    }
    c = r->cmds[--r->ncmds];
    pthread_mutex_unlock(&r->mu);
    pair_t *p = __atomic_load_n(&r->slots[c.id & RELAY_SLOT_MASK], __ATOMIC_ACQUIRE);
    if (p && p->id == c.id) finish(r, p, c.reason, 0, 0);
  }
}

static void scan_idle(relay_t *r, int64_t now) {
  /* From 0: adopts during the scan lower it from there, and are kept by the fold below. */
  __atomic_exchange_n(&r->min_idle, 0, __ATOMIC_ACQ_REL);
  uint32_t hi = __atomic_load_n(&r->high_slot, __ATOMIC_ACQUIRE);
  int64_t found = 0;
  for (uint32_t i = 0; i < hi; i++) {
    pair_t *p = __atomic_load_n(&r->slots[i], __ATOMIC_ACQUIRE);
    if (!p || p->idle_ms <= 0) continue;
    if (now - p->last_ms >= p->idle_ms) {
      finish(r, p, RELAY_END_IDLE, 0, 0);
      continue;
    }
    if (found == 0 || p->idle_ms < found) found = p->idle_ms;
  }
#ifdef RELAY_TEST_HOOKS
  relay_test_scan_end(r, found);
#endif
  if (found > 0) lower_min(&r->min_idle, found);
  r->last_scan = now;
}

/* How often idle timeouts are checked: an eighth of the shortest, within 10 ms..1 s. */
static int64_t scan_every(int64_t idle) {
  int64_t t = idle / 8;
  return t < 10 ? 10 : t > MAX_SLEEP_MS ? MAX_SLEEP_MS : t;
}

/*
 * The relay thread cannot go on (epoll_wait failed: the epoll set is gone).
 * New tunnels are refused from now on (adopt checks `failed` under the
 * mutex), every tunnel is closed with a reset on both sides and reported as
 * `shutdown` with this errno, and the owner is told; it reads the errno in
 * relay_stats().failed, logs it and keeps new tunnels in JavaScript.
 */
static void fail_all(relay_t *r, int err) {
  pthread_mutex_lock(&r->mu);
  __atomic_store_n(&r->failed, err, __ATOMIC_RELEASE);
  r->ncmds = 0; /* closes asked for: every tunnel closes now anyway */
  pthread_mutex_unlock(&r->mu);
  uint32_t hi = __atomic_load_n(&r->high_slot, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < hi; i++) {
    pair_t *p = __atomic_load_n(&r->slots[i], __ATOMIC_ACQUIRE);
    if (p) finish(r, p, RELAY_END_SHUTDOWN, err, ABORT_CLIENT | ABORT_BACKEND);
  }
  tell_owner(r);
}

static void *relay_main(void *arg) {
  relay_t *r = arg;
  (void)pthread_setname_np(pthread_self(), "lb4-relay"); /* cosmetic (top -H, perf/perf.sh): a failure changes nothing */
  struct epoll_event evs[MAX_EVENTS];
  r->last_scan = now_ms();
  while (!__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
    int64_t min_idle = __atomic_load_n(&r->min_idle, __ATOMIC_ACQUIRE);
    int64_t timeout = MAX_SLEEP_MS;
    if (min_idle > 0) {
      timeout = r->last_scan + scan_every(min_idle) - now_ms();
      if (timeout < 0) timeout = 0;
    }
    int n = epoll_wait(r->ep, evs, MAX_EVENTS, (int)timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_all(r, errno);
      return NULL;
    }
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == EVFD_TAG) {
        run_commands(r);
        continue;
      }
      pair_t *p = __atomic_load_n(&r->slots[(tag >> 1) & RELAY_SLOT_MASK], __ATOMIC_ACQUIRE);
      /* Closed earlier in this batch, not yet published, or the slot already
       * holds a newer tunnel (the tag carries the id, generation included). */
      if (!p || p->id != (uint32_t)(tag >> 1)) continue;
      int s = (int)(tag & 1);
      if (p->mask[s] == 0) continue; /* left the set earlier in this batch */
      on_event(r, p, s, evs[i].events, now);
    }
    min_idle = __atomic_load_n(&r->min_idle, __ATOMIC_ACQUIRE);
    if (min_idle > 0 && now - r->last_scan >= scan_every(min_idle)) scan_idle(r, now);
  }
  return NULL;
}

/* ---- the owner's thread ---- */

/* The lowest free slot, marked used; RELAY_MAX_SLOTS when none is free. */
static uint32_t take_slot(relay_t *r) {
  for (uint32_t i = 0; i < SUMMARY_WORDS; i++) {
    if (!r->has_free[i]) continue;
    uint32_t w = i * 64 + (uint32_t)__builtin_ctzll(r->has_free[i]);
    uint32_t b = (uint32_t)__builtin_ctzll(~r->used[w]);
    r->used[w] |= 1ull << b;
    if (r->used[w] == UINT64_MAX) r->has_free[i] &= ~(1ull << (w % 64));
    r->has_used[i] |= 1ull << (w % 64);
    return w * 64 + b;
  }
  return RELAY_MAX_SLOTS;
}

/* 1 + the highest slot in use, 0 when none is. */
static uint32_t highest_used(const relay_t *r) {
  for (uint32_t i = SUMMARY_WORDS; i-- > 0;) {
    if (!r->has_used[i]) continue;
    uint32_t w = i * 64 + 63 - (uint32_t)__builtin_clzll(r->has_used[i]);
    return w * 64 + 63 - (uint32_t)__builtin_clzll(r->used[w]) + 1;
  }
  return 0;
}

/* Put a slot back; the idle scan's bound comes down when the top slots free up. */
static void put_slot(relay_t *r, uint32_t slot) {
  uint32_t w = slot / 64;
  r->used[w] &= ~(1ull << (slot % 64));
  r->has_free[w / 64] |= 1ull << (w % 64);
  if (r->used[w] == 0) r->has_used[w / 64] &= ~(1ull << (w % 64));
  if (slot + 1 == __atomic_load_n(&r->high_slot, __ATOMIC_RELAXED)) __atomic_store_n(&r->high_slot, highest_used(r), __ATOMIC_RELEASE);
}

static void free_pair(relay_t *r, pair_t *p) {
  for (int s = 0; s < 2; s++) {
    close_fd(p->fd[s]);
    free(p->d[s].pend);
    close_pipe(r, &p->d[s]);
  }
  free(p);
}

int relay_start(relay_t **out, const relay_opts_t *o) {
  *out = NULL;
  if (!o || !o->counters) return EINVAL;
  relay_t *r = calloc(1, sizeof *r);
  if (!r) return ENOMEM;
  int err = pthread_mutex_init(&r->mu, NULL);
  if (err) {
    free(r);
    return err;
  }
  r->ep = -1;
  r->evfd = -1;
  r->notify = o->notify;
  r->ctx = o->ctx;
  r->counters = o->counters;
  r->pipe_size = o->pipe_size ? o->pipe_size : RELAY_DEFAULT_PIPE;
  if (r->pipe_size > INT32_MAX) r->pipe_size = RELAY_DEFAULT_PIPE;
  memset(r->has_free, 0xff, sizeof r->has_free);
  r->slots = calloc(RELAY_MAX_SLOTS, sizeof *r->slots);
  r->gen = calloc(RELAY_MAX_SLOTS, sizeof *r->gen);
  if (!r->slots || !r->gen) {
    err = ENOMEM;
    goto fail;
  }
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  if (r->ep < 0) {
    err = errno;
    goto fail;
  }
  r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->evfd < 0) {
    err = errno;
    goto fail;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = EVFD_TAG;
  if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->evfd, &ev) != 0) {
    err = errno;
    goto fail;
  }
  /* The relay thread takes no signal: they are the owner's business, and it never sees EINTR. */
  sigset_t all, old;
  sigfillset(&all);
  err = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (err) goto fail;
  err = pthread_create(&r->thread, NULL, relay_main, r);
  int restore = pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) goto fail;
  r->thread_started = 1;
  if (restore) {
    relay_stop(r);
    return restore;
  }
  *out = r;
  return 0;
fail:
  close_fd(r->ep);
  close_fd(r->evfd);
  free(r->slots);
  free(r->gen);
  pthread_mutex_destroy(&r->mu);
  free(r);
  return err;
}

int32_t relay_adopt(relay_t *r, int cfd, int bfd, int64_t idle_ms, int64_t quiet_ms) {
  if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE)) return -ESHUTDOWN;
  uint32_t slot = take_slot(r);
  if (slot >= RELAY_MAX_SLOTS) return -EMFILE;
  int err = 0;
  pair_t *p = calloc(1, sizeof *p);
  if (!p) {
    put_slot(r, slot);
    return -ENOMEM;
  }
  p->fd[0] = p->fd[1] = -1;
  p->d[0].pipe_r = p->d[0].pipe_w = p->d[1].pipe_r = p->d[1].pipe_w = -1;
  p->fd[0] = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
  if (p->fd[0] < 0) goto fail_errno;
  p->fd[1] = fcntl(bfd, F_DUPFD_CLOEXEC, 0);
  if (p->fd[1] < 0) goto fail_errno;
  for (int s = 0; s < 2; s++) {
    /* the flag belongs to the open file, shared with Node's descriptor (which Node sets non-blocking anyway) */
    int fl = fcntl(p->fd[s], F_GETFL);
    if (fl < 0) goto fail_errno;
    if (!(fl & O_NONBLOCK) && fcntl(p->fd[s], F_SETFL, fl | O_NONBLOCK) < 0) goto fail_errno;
  }
  /* ids stay positive int32s: 14 bits of generation above the slot */
  r->gen[slot] = (uint16_t)((r->gen[slot] + 1) & 0x3fff);
  p->id = ((uint32_t)r->gen[slot] << RELAY_SLOT_BITS) | slot;
  p->idle_ms = idle_ms > 0 ? idle_ms : 0;
  p->last_ms = now_ms() - (quiet_ms > 0 ? quiet_ms : 0);
  p->reason = RELAY_END_NONE;
  r->counters[slot * 2] = 0;
  r->counters[slot * 2 + 1] = 0;
  const uint32_t id = p->id;
  const int64_t idle = p->idle_ms;
  for (int s = 0; s < 2; s++) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = ((uint64_t)id << 1) | (uint64_t)s;
    /* Events before the pair is published are skipped by the relay thread
     * and reported again (level-triggered) once it is. */
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, p->fd[s], &ev) != 0) goto fail_errno;
    p->mask[s] = EPOLLIN;
  }
  pthread_mutex_lock(&r->mu);
  if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE)) {
    pthread_mutex_unlock(&r->mu);
    err = ESHUTDOWN;
    goto fail;
  }
  if (slot >= __atomic_load_n(&r->high_slot, __ATOMIC_RELAXED)) __atomic_store_n(&r->high_slot, slot + 1, __ATOMIC_RELEASE);
  /* Publishing hands p to the relay thread: from here on only that thread
   * touches p until it reports it, and it may already have finished it. */
  __atomic_store_n(&r->slots[slot], p, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&r->mu);
  r->live++;
  /* After publishing, so that an idle scan running now either sees the
   * tunnel or keeps this value (see min_idle). A shorter timeout than the
   * relay thread plans for: wake it to re-plan its sleep. */
  if (idle > 0 && lower_min(&r->min_idle, idle) && wake(r) != 0) {
    /* its next wake-up (at most MAX_SLEEP_MS away) re-plans instead */
  }
  return (int32_t)id;
fail_errno:
  err = errno;
fail:
  for (int s = 0; s < 2; s++) {
    if (p->mask[s] != 0 && epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[s], NULL) != 0) {
      /* close() below drops the registration of our duplicate all the same */
    }
    close_fd(p->fd[s]);
  }
  free(p);
  put_slot(r, slot);
  return -err;
}

int relay_close(relay_t *r, uint32_t id, int reason) {
  if (reason < 0 || reason >= RELAY_END_COUNT) reason = RELAY_END_SHUTDOWN;
  pthread_mutex_lock(&r->mu);
  if (r->ncmds == r->cap_cmds) {
    uint32_t cap = r->cap_cmds ? r->cap_cmds * 2 : 64;
    cmd_t *n = realloc(r->cmds, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&r->mu);
      return ENOMEM;
    }
    r->cmds = n;
    r->cap_cmds = cap;
  }
  r->cmds[r->ncmds].id = id;
  r->cmds[r->ncmds].reason = reason;
  r->ncmds++;
  pthread_mutex_unlock(&r->mu);
  if (wake(r) != 0) {
    /* the close happens at the relay thread's next wake-up, at most MAX_SLEEP_MS away */
  }
  return 0;
}

uint32_t relay_take(relay_t *r, relay_report_fn fn, void *ctx) {
  pthread_mutex_lock(&r->mu);
  pair_t *p = r->done_head;
  r->done_head = r->done_tail = NULL;
  r->notify_pending = 0;
  pthread_mutex_unlock(&r->mu);
  uint32_t n = 0;
  while (p) {
    pair_t *next = p->next;
    relay_report_t rep = { p->id, p->reason, p->err, p->final_in, p->final_out };
    free(p); /* its descriptors and buffers went in finish() */
    put_slot(r, rep.id & RELAY_SLOT_MASK);
    r->live--;
    n++;
    /* last: fn may adopt again, into the slot just put back */
    fn(ctx, &rep);
    p = next;
  }
  return n;
}

void relay_stats(relay_t *r, relay_stats_t *out) {
  out->live = r->live;
  out->high_slot = __atomic_load_n(&r->high_slot, __ATOMIC_RELAXED);
  out->pipes = __atomic_load_n(&r->st_pipes, __ATOMIC_RELAXED);
  out->pipes_opened = __atomic_load_n(&r->st_pipes_opened, __ATOMIC_RELAXED);
  out->pipes_refused = __atomic_load_n(&r->st_pipes_refused, __ATOMIC_RELAXED);
  out->failed = __atomic_load_n(&r->failed, __ATOMIC_ACQUIRE);
}

void relay_stop(relay_t *r) {
  if (!r) return;
  if (r->thread_started) {
    __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
    if (wake(r) != 0) {
      /* the relay thread sees `stopping` after its current sleep (at most MAX_SLEEP_MS) */
    }
    int err = pthread_join(r->thread, NULL);
    if (err) abort(); /* EDEADLK/EINVAL/ESRCH: a misuse of this API (stop from the relay thread, twice) */
    r->thread_started = 0;
  }
  /* One thread from here on: live tunnels are closed without a report. */
  uint32_t hi = __atomic_load_n(&r->high_slot, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < hi; i++) {
    if (r->slots[i]) free_pair(r, r->slots[i]);
    r->slots[i] = NULL;
  }
  for (pair_t *p = r->done_head, *next; p; p = next) {
    next = p->next;
    free(p);
  }
  free(r->cmds);
  close_fd(r->ep);
  close_fd(r->evfd);
  free(r->slots);
  free(r->gen);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
