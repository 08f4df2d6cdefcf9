/*
 * lb4's native L4 relay (Linux): moves the bytes of plain TCP tunnels on one
 * epoll thread, off Node's event loop.
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
 * - a read or write error on one side closes both (reason: that side's
 *   error); the idle timeout closes both when no byte moved either way;
 * - close(id) from JavaScript closes both now (drain deadline, admin).
 *
 * Threads: JavaScript's thread adopts (dup()s the descriptors and registers
 * them) and asks for closes through a mutex-guarded queue and an eventfd.
 * The relay thread alone reads, writes, closes and frees tunnels. It reports
 * each ended tunnel (id, reason, errno, byte counts) through a thread-safe
 * function; only then does JavaScript's thread put the slot back, so a slot
 * is never reused while the relay thread may still look at it. Live byte
 * counts are doubles in a buffer shared with JavaScript (aligned 8-byte
 * stores, read for /stats and /metrics).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BITS 17
#define MAX_SLOTS (1u << SLOT_BITS)
#define SLOT_MASK (MAX_SLOTS - 1)
#define READ_BUF (64 * 1024)
/* Reads in a row from one socket before serving the others (fairness). */
#define MAX_READS_PER_EVENT 16
#define EVFD_TAG UINT64_MAX

/* End reasons, in the order of TunnelEnd's names in src/l4/relay.ts. */
enum { END_CLIENT_CLOSE = 0, END_BACKEND_CLOSE, END_CLIENT_ERROR, END_BACKEND_ERROR, END_IDLE, END_SHUTDOWN, END_NONE = -1 };

/*
 * Bulk directions switch from copying to splice(2): once a direction has
 * moved SPLICE_AFTER bytes in full-buffer reads, it gets a pipe, and bytes
 * go socket -> pipe -> socket inside the kernel, never copied to us (what
 * HAProxy's "option splice-auto" does). Small and interactive tunnels never
 * pay the pipe's two descriptors.
 */
#define SPLICE_AFTER (256 * 1024)
#define PIPE_SIZE (256 * 1024)

/* One direction: read from fd[k], written to fd[1 - k]. */
typedef struct {
  char *pend;        /* bytes read and not yet written, or NULL */
  uint32_t pend_len; /* bytes left in pend */
  uint32_t pend_off;
  int pipe_r, pipe_w; /* the splice pipe, or -1 */
  uint32_t piped;     /* bytes in the pipe, not yet written */
  uint8_t no_pipe;    /* pipe2() failed once (descriptor limit): keep copying */
  uint8_t eof;  /* read() returned 0 */
  uint8_t shut; /* the other side's write half is shut down */
} dir_t;

/* Bytes of direction d read and not yet written. */
static inline uint32_t waiting(const dir_t *d) {
  return d->pend_len + d->piped;
}

typedef struct {
  uint32_t id;
  int fd[2];         /* 0: client, 1: backend */
  uint32_t mask[2];  /* epoll interest now registered (0: not registered) */
  dir_t d[2];        /* d[0]: client -> backend, d[1]: backend -> client */
  int64_t last_ms;
  int64_t idle_ms;
  int reason;
  int err;
} pair_t;

typedef struct {
  uint32_t id;
  int reason;
  int err;
  double in, out;
} done_t;

typedef struct {
  uint32_t id;
  int reason;
} cmd_t;

typedef struct {
  int ep, evfd;
  pthread_t thread;
  int thread_started;
  volatile int stopping;
  pthread_mutex_t mu;
  cmd_t *cmds;
  uint32_t ncmds, cap_cmds;
  done_t *done;
  uint32_t ndone, cap_done;
  napi_threadsafe_function tsfn;
  napi_ref callback;
  pair_t **slots;     /* written by JS's thread on adopt, cleared by the relay thread on close */
  double *counters;   /* [slot * 2]: client -> backend bytes, [slot * 2 + 1]: backend -> client */
  /* JavaScript's thread only: */
  uint32_t *free_slots;
  uint32_t nfree;
  uint32_t next_slot;  /* slots below this have been used at least once */
  uint32_t *gen;
  uint32_t live;
  /* the shortest idle timeout of live tunnels (lowered by adopt, recomputed by the idle scan) */
  int64_t min_idle;
  /* relay thread only: */
  int64_t last_scan;
  volatile uint32_t high_slot; /* scan bound for idle checks */
  char buf[READ_BUF];
} relay_t;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- relay thread ---- */

static void set_interest(relay_t *r, pair_t *p, int s, uint32_t want) {
  if (want == p->mask[s]) return;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = want;
  ev.data.u64 = ((uint64_t)p->id << 1) | (uint64_t)s;
  if (want == 0) {
    /* Not interested in anything: leave the set, so that a hang-up (always
     * reported) cannot wake us in a loop. Errors surface on the next read or
     * write, which the other side's events or the idle timeout bring. */
    epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[s], &ev);
  } else if (p->mask[s] == 0) {
    epoll_ctl(r->ep, EPOLL_CTL_ADD, p->fd[s], &ev);
  } else {
    epoll_ctl(r->ep, EPOLL_CTL_MOD, p->fd[s], &ev);
  }
  p->mask[s] = want;
}

static void update_interest(relay_t *r, pair_t *p) {
  for (int s = 0; s < 2; s++) {
    uint32_t want = 0;
    if (!p->d[s].eof && waiting(&p->d[s]) == 0) want |= EPOLLIN;
    if (waiting(&p->d[1 - s]) > 0) want |= EPOLLOUT;
    set_interest(r, p, s, want);
  }
}

static void post_done(relay_t *r, done_t *d) {
  int first;
  pthread_mutex_lock(&r->mu);
  if (r->ndone == r->cap_done) {
    uint32_t cap = r->cap_done ? r->cap_done * 2 : 64;
    done_t *n = realloc(r->done, cap * sizeof *n);
    if (!n) abort();
    r->done = n;
    r->cap_done = cap;
  }
  r->done[r->ndone++] = *d;
  first = r->ndone == 1;
  pthread_mutex_unlock(&r->mu);
  if (first) napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

/* Close both sockets, report, free. The pair must not be used afterwards. */
static void finish(relay_t *r, pair_t *p, int reason, int err) {
  uint32_t slot = p->id & SLOT_MASK;
  if (p->reason == END_NONE) {
    p->reason = reason;
    p->err = err;
  }
  for (int s = 0; s < 2; s++) {
    if (p->mask[s] != 0) epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[s], NULL);
    close(p->fd[s]);
    free(p->d[s].pend);
    if (p->d[s].pipe_r >= 0) {
      close(p->d[s].pipe_r);
      close(p->d[s].pipe_w);
    }
  }
  done_t d = { p->id, p->reason, p->err, r->counters[slot * 2], r->counters[slot * 2 + 1] };
  __atomic_store_n(&r->slots[slot], NULL, __ATOMIC_RELEASE);
  free(p);
  post_done(r, &d);
}

static void fail(relay_t *r, pair_t *p, int side, int err) {
  finish(r, p, side == 0 ? END_CLIENT_ERROR : END_BACKEND_ERROR, err);
}

/* The first end of a direction names the reason when nothing else did. */
static void note_eof(pair_t *p, int s) {
  p->d[s].eof = 1;
  if (p->reason == END_NONE) p->reason = s == 0 ? END_CLIENT_CLOSE : END_BACKEND_CLOSE;
}

/* Shut the write half of fd[1 - k] once direction k has ended and is flushed. */
static void maybe_shut(pair_t *p, int k) {
  dir_t *d = &p->d[k];
  if (d->eof && !d->shut && waiting(d) == 0) {
    shutdown(p->fd[1 - k], SHUT_WR); /* ENOTCONN after a reset shows up on the next read */
    d->shut = 1;
  }
}

/* Write direction k's pending bytes. Returns 0, or an errno of the writing side. */
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
  maybe_shut(p, k);
  return 0;
}

/* Give direction d a splice pipe; on failure it goes on copying. */
static void open_pipe(dir_t *d) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    d->no_pipe = 1;
    return;
  }
  fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE); /* a smaller pipe (the default 64 KiB) still works */
  d->pipe_r = fds[0];
  d->pipe_w = fds[1];
}

/* pump() for a direction with a pipe: socket -> pipe -> socket, no copy. */
static int pump_splice(relay_t *r, pair_t *p, int s, int64_t now) {
  dir_t *d = &p->d[s];
  double *count = &r->counters[(p->id & SLOT_MASK) * 2 + s];
  for (int i = 0; i < MAX_READS_PER_EVENT && !d->eof && waiting(d) == 0; i++) {
    ssize_t n = splice(p->fd[s], NULL, d->pipe_w, NULL, PIPE_SIZE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0; /* the pipe is empty: the socket is */
      fail(r, p, s, errno);
      return -1;
    }
    if (n == 0) {
      note_eof(p, s);
      maybe_shut(p, s);
      return 0;
    }
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
  double *count = &r->counters[(p->id & SLOT_MASK) * 2 + s];
  for (int i = 0; i < MAX_READS_PER_EVENT && !d->eof && d->pend_len == 0; i++) {
    ssize_t n = recv(from, r->buf, READ_BUF, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      fail(r, p, s, errno);
      return -1;
    }
    if (n == 0) {
      note_eof(p, s);
      maybe_shut(p, s);
      return 0;
    }
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
      open_pipe(d);
      if (d->pipe_r >= 0) return pump_splice(r, p, s, now);
    }
  }
  return 0;
}

static void on_event(relay_t *r, pair_t *p, int s, uint32_t events, int64_t now) {
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd[s], SOL_SOCKET, SO_ERROR, &err, &len);
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
    finish(r, p, END_CLIENT_CLOSE, 0); /* reason already set by the first EOF */
    return;
  }
  update_interest(r, p);
}

static void run_commands(relay_t *r) {
  uint64_t v;
  while (read(r->evfd, &v, sizeof v) < 0 && errno == EINTR) {
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
    pair_t *p = __atomic_load_n(&r->slots[c.id & SLOT_MASK], __ATOMIC_ACQUIRE);
    if (p && p->id == c.id) finish(r, p, c.reason, 0);
  }
}

static void scan_idle(relay_t *r, int64_t now) {
  uint32_t hi = __atomic_load_n(&r->high_slot, __ATOMIC_ACQUIRE);
  int64_t min_idle = 0;
  for (uint32_t i = 0; i < hi; i++) {
    pair_t *p = __atomic_load_n(&r->slots[i], __ATOMIC_ACQUIRE);
    if (!p || p->idle_ms <= 0) continue;
    if (now - p->last_ms >= p->idle_ms) {
      finish(r, p, END_IDLE, 0);
      continue;
    }
    if (min_idle == 0 || p->idle_ms < min_idle) min_idle = p->idle_ms;
  }
  /* A tunnel adopted during the scan and not seen by it may lose its lower
   * value here; the next scan (at most a second later) finds it. */
  __atomic_store_n(&r->min_idle, min_idle, __ATOMIC_RELAXED);
  r->last_scan = now;
}

/* How often idle timeouts are checked: an eighth of the shortest, within 10 ms..1 s. */
static int64_t scan_every(int64_t idle) {
  int64_t t = idle / 8;
  return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

static void *relay_main(void *arg) {
  relay_t *r = arg;
  pthread_setname_np(pthread_self(), "lb4-relay"); /* top -H, perf/perf.sh */
  struct epoll_event evs[256];
  r->last_scan = now_ms();
  while (!r->stopping) {
    int64_t min_idle = __atomic_load_n(&r->min_idle, __ATOMIC_RELAXED);
    int timeout = min_idle > 0 ? (int)scan_every(min_idle) : 1000;
    int n = epoll_wait(r->ep, evs, 256, timeout);
    if (n < 0 && errno != EINTR) break;
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == EVFD_TAG) {
        run_commands(r);
        continue;
      }
      pair_t *p = __atomic_load_n(&r->slots[(tag >> 1) & SLOT_MASK], __ATOMIC_ACQUIRE);
      /* Closed earlier in this batch, not yet published, or the slot already
       * holds a newer tunnel (the tag carries the id, generation included). */
      if (!p || p->id != (uint32_t)(tag >> 1)) continue;
      int s = (int)(tag & 1);
      if (p->mask[s] == 0) continue; /* left the set earlier in this batch */
      on_event(r, p, s, evs[i].events, now);
    }
    min_idle = __atomic_load_n(&r->min_idle, __ATOMIC_RELAXED);
    if (min_idle > 0 && now - r->last_scan >= scan_every(min_idle)) scan_idle(r, now);
  }
  return NULL;
}

/* ---- JavaScript's thread ---- */

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)data;
  relay_t *r = context;
  if (env == NULL) return;
  done_t *list;
  uint32_t n;
  pthread_mutex_lock(&r->mu);
  list = r->done;
  n = r->ndone;
  r->done = NULL;
  r->ndone = 0;
  r->cap_done = 0;
  pthread_mutex_unlock(&r->mu);
  napi_value cb, undef, argv[5];
  napi_get_reference_value(env, r->callback, &cb);
  napi_get_undefined(env, &undef);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t slot = list[i].id & SLOT_MASK;
    r->free_slots[r->nfree++] = slot;
    if (--r->live == 0) napi_unref_threadsafe_function(env, r->tsfn);
    napi_create_uint32(env, list[i].id, &argv[0]);
    napi_create_int32(env, list[i].reason, &argv[1]);
    napi_create_int32(env, list[i].err, &argv[2]);
    napi_create_double(env, list[i].in, &argv[3]);
    napi_create_double(env, list[i].out, &argv[4]);
    napi_value ignored;
    if (napi_call_function(env, undef, cb, 5, argv, &ignored) != napi_ok) {
      /* An exception in the callback: let Node report it as uncaught. */
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        napi_fatal_exception(env, e);
      }
    }
  }
  free(list);
}

static void cleanup(void *arg) {
  relay_t *r = arg;
  if (r->thread_started) {
    uint64_t one = 1;
    r->stopping = 1;
    if (write(r->evfd, &one, sizeof one) < 0) {
    }
    pthread_join(r->thread, NULL);
  }
  for (uint32_t i = 0; r->slots && i < r->next_slot; i++) {
    pair_t *p = r->slots[i];
    if (!p) continue;
    close(p->fd[0]);
    close(p->fd[1]);
    for (int s = 0; s < 2; s++) {
      free(p->d[s].pend);
      if (p->d[s].pipe_r >= 0) {
        close(p->d[s].pipe_r);
        close(p->d[s].pipe_w);
      }
    }
    free(p);
  }
  close(r->ep);
  close(r->evfd);
  /* counters stays mapped: JavaScript may still hold the ArrayBuffer over it. */
}

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, "LB_ERR_RELAY", msg);
  return NULL;
}

/* init(callback(id, reason, errno, bytesIn, bytesOut)) -> Float64Array of live byte counts */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  relay_t *r;
  napi_get_instance_data(env, (void **)&r);
  if (r->thread_started) {
    napi_throw_error(env, "LB_ERR_RELAY", "relay already started");
    return NULL;
  }
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  if (r->ep < 0) return throw_errno(env, "epoll_create1");
  r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->evfd < 0) return throw_errno(env, "eventfd");
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EVFD_TAG };
  epoll_ctl(r->ep, EPOLL_CTL_ADD, r->evfd, &ev);
  r->slots = calloc(MAX_SLOTS, sizeof *r->slots);
  r->counters = calloc((size_t)MAX_SLOTS * 2, sizeof *r->counters);
  r->free_slots = malloc(MAX_SLOTS * sizeof *r->free_slots);
  r->gen = calloc(MAX_SLOTS, sizeof *r->gen);
  if (!r->slots || !r->counters || !r->free_slots || !r->gen) {
    napi_throw_error(env, "LB_ERR_RELAY", "out of memory");
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &r->callback);
  napi_value name;
  napi_create_string_utf8(env, "lb4-relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, r, call_js, &r->tsfn) != napi_ok) {
    napi_throw_error(env, "LB_ERR_RELAY", "cannot create the completion callback");
    return NULL;
  }
  napi_unref_threadsafe_function(env, r->tsfn);
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0) return throw_errno(env, "pthread_create");
  r->thread_started = 1;
  napi_value ab, arr;
  napi_create_external_arraybuffer(env, r->counters, (size_t)MAX_SLOTS * 2 * sizeof(double), NULL, NULL, &ab);
  napi_create_typedarray(env, napi_float64_array, (size_t)MAX_SLOTS * 2, ab, 0, &arr);
  return arr;
}

/*
 * adopt(clientFd, backendFd, idleMs, idleSoFarMs) -> id (>= 0), or -errno.
 * The caller keeps its own descriptors and closes them; the relay works on
 * duplicates. idleSoFarMs: how long the tunnel has been quiet already, so
 * the idle timeout counts from its last byte, not from the hand-over.
 */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  relay_t *r;
  napi_get_instance_data(env, (void **)&r);
  int32_t cfd, bfd;
  double idle, quiet = 0;
  napi_get_value_int32(env, argv[0], &cfd);
  napi_get_value_int32(env, argv[1], &bfd);
  napi_get_value_double(env, argv[2], &idle);
  if (argc > 3) napi_get_value_double(env, argv[3], &quiet);
  int32_t result;
  uint32_t slot;
  if (!r->thread_started) {
    result = -EINVAL;
    goto done;
  }
  if (r->nfree > 0) {
    slot = r->free_slots[--r->nfree];
  } else if (r->next_slot < MAX_SLOTS) {
    slot = r->next_slot++;
  } else {
    result = -EMFILE;
    goto done;
  }
  pair_t *p = calloc(1, sizeof *p);
  if (!p) {
    r->free_slots[r->nfree++] = slot;
    result = -ENOMEM;
    goto done;
  }
  p->fd[0] = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
  p->fd[1] = p->fd[0] < 0 ? -1 : fcntl(bfd, F_DUPFD_CLOEXEC, 0);
  if (p->fd[0] < 0 || p->fd[1] < 0) {
    result = -errno;
    if (p->fd[0] >= 0) close(p->fd[0]);
    free(p);
    r->free_slots[r->nfree++] = slot;
    goto done;
  }
  for (int s = 0; s < 2; s++) {
    int fl = fcntl(p->fd[s], F_GETFL);
    if (!(fl & O_NONBLOCK)) fcntl(p->fd[s], F_SETFL, fl | O_NONBLOCK);
  }
  /* ids stay positive int32s: 14 bits of generation above the slot */
  r->gen[slot] = (r->gen[slot] + 1) & 0x3fff;
  p->id = (r->gen[slot] << SLOT_BITS) | slot;
  p->idle_ms = idle > 0 ? (int64_t)idle : 0;
  p->last_ms = now_ms() - (quiet > 0 ? (int64_t)quiet : 0);
  p->reason = END_NONE;
  p->d[0].pipe_r = p->d[0].pipe_w = p->d[1].pipe_r = p->d[1].pipe_w = -1;
  r->counters[slot * 2] = 0;
  r->counters[slot * 2 + 1] = 0;
  const uint32_t id = p->id;
  const int64_t idle_ms = p->idle_ms;
  p->mask[0] = p->mask[1] = EPOLLIN;
  for (int s = 0; s < 2; s++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ((uint64_t)id << 1) | (uint64_t)s };
    epoll_ctl(r->ep, EPOLL_CTL_ADD, p->fd[s], &ev);
  }
  if (r->live++ == 0) napi_ref_threadsafe_function(env, r->tsfn);
  if (slot >= r->high_slot) __atomic_store_n(&r->high_slot, slot + 1, __ATOMIC_RELEASE);
  /* Publishing hands p to the relay thread (it skips events of an empty
   * slot until now): from here on only that thread touches p, and it may
   * already have freed it. */
  __atomic_store_n(&r->slots[slot], p, __ATOMIC_RELEASE);
  result = (int32_t)id;
  /* A shorter idle timeout than the relay thread checks for: wake it to re-plan its sleep. */
  int64_t cur = __atomic_load_n(&r->min_idle, __ATOMIC_RELAXED);
  if (idle_ms > 0 && (cur == 0 || idle_ms < cur)) {
    __atomic_store_n(&r->min_idle, idle_ms, __ATOMIC_RELAXED);
    uint64_t one = 1;
    if (write(r->evfd, &one, sizeof one) < 0) {
    }
  }
done:
  napi_create_int32(env, result, &out);
  return out;
}

/* close(id, reason): end a tunnel now; its report follows as for any end. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  relay_t *r;
  napi_get_instance_data(env, (void **)&r);
  uint32_t id;
  int32_t reason;
  napi_get_value_uint32(env, argv[0], &id);
  napi_get_value_int32(env, argv[1], &reason);
  if (!r->thread_started) return NULL;
  pthread_mutex_lock(&r->mu);
  if (r->ncmds == r->cap_cmds) {
    uint32_t cap = r->cap_cmds ? r->cap_cmds * 2 : 64;
    cmd_t *n = realloc(r->cmds, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&r->mu);
      napi_throw_error(env, "LB_ERR_RELAY", "out of memory");
      return NULL;
    }
    r->cmds = n;
    r->cap_cmds = cap;
  }
  r->cmds[r->ncmds].id = id;
  r->cmds[r->ncmds].reason = reason;
  r->ncmds++;
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  if (write(r->evfd, &one, sizeof one) < 0) {
  }
  return NULL;
}

/*
 * trim(): give the C heap's free memory back to the system (glibc
 * malloc_trim). After a spike, the native side of thousands of closed
 * sockets (libuv handles, Node's wraps, read buffers) is free but still
 * mapped; src/reclaim.ts calls this after its collection.
 */
static napi_value js_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  (void)data;
  /* cleanup() already ran as an env cleanup hook; the struct itself is small and lives until exit. */
}

static napi_value init_module(napi_env env, napi_value exports) {
  relay_t *r = calloc(1, sizeof *r);
  if (!r) {
    napi_throw_error(env, "LB_ERR_RELAY", "out of memory");
    return NULL;
  }
  r->ep = -1;
  r->evfd = -1;
  pthread_mutex_init(&r->mu, NULL);
  napi_set_instance_data(env, r, free_instance, NULL);
  napi_add_env_cleanup_hook(env, cleanup, r);
  napi_property_descriptor props[] = {
    { "init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL },
    { "adopt", NULL, js_adopt, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
