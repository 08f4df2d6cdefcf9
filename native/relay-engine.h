/*
 * lb4's native L4 relay engine (Linux): moves the bytes of plain TCP
 * tunnels on one epoll thread. No Node-API here: native/relay-addon.c binds
 * it to JavaScript, test/native/engine-test.c drives it directly.
 *
 * Threads. "The owner" is the one thread that calls relay_adopt,
 * relay_close, relay_take, relay_stats and relay_stop (JavaScript's main
 * thread in lb4). The relay thread alone reads, writes, closes and finishes
 * tunnels; each finished tunnel is queued for the owner, who is told through
 * opts.notify and collects it with relay_take. A slot is put back only then,
 * so it is never reused while the relay thread may still look at it.
 */
#ifndef LB4_RELAY_ENGINE_H
#define LB4_RELAY_ENGINE_H

#include <stdint.h>

#define RELAY_SLOT_BITS 17
#define RELAY_MAX_SLOTS (1u << RELAY_SLOT_BITS)
#define RELAY_SLOT_MASK (RELAY_MAX_SLOTS - 1)
/* A splice pipe smaller than this is not worth its two descriptors: copy instead. */
#define RELAY_MIN_PIPE (64 * 1024)
#define RELAY_DEFAULT_PIPE (256 * 1024)

/*
 * Why a tunnel ended. The one list: the enum and relay_end_names[] are both
 * generated from it, the addon exports the names in this order, and a unit
 * test compares them with REASONS in src/l4/relay.ts.
 */
#define RELAY_END_LIST(X)                 \
  X(CLIENT_CLOSE, "client-close")         \
  X(BACKEND_CLOSE, "backend-close")       \
  X(CLIENT_ERROR, "client-error")         \
  X(BACKEND_ERROR, "backend-error")       \
  X(IDLE, "idle-timeout")                 \
  X(SHUTDOWN, "shutdown")

#define RELAY_END_ENUM(name, text) RELAY_END_##name,
enum relay_end { RELAY_END_LIST(RELAY_END_ENUM) RELAY_END_COUNT, RELAY_END_NONE = -1 };
#undef RELAY_END_ENUM

extern const char *const relay_end_names[RELAY_END_COUNT];

typedef struct relay relay_t;

typedef struct {
  /* Live byte counts, RELAY_MAX_SLOTS * 2 doubles owned by the caller and
   * kept mapped until relay_stop returns: [slot * 2] client -> backend,
   * [slot * 2 + 1] backend -> client (aligned 8-byte stores). */
  double *counters;
  /* The splice pipe size to ask for (F_SETPIPE_SZ); 0: RELAY_DEFAULT_PIPE. A
   * pipe that ends up smaller than RELAY_MIN_PIPE is closed and that
   * direction keeps copying. */
  uint32_t pipe_size;
  /* Relay thread: reports (or the thread's failure) wait for relay_take.
   * Called once per batch; returns 0, or nonzero when the owner could not
   * be told (it is then called again with the next report). */
  int (*notify)(void *ctx);
  void *ctx;
} relay_opts_t;

typedef struct {
  uint32_t id;
  int reason; /* enum relay_end */
  int err;    /* the socket error that ended it, or 0 */
  double bytes_in, bytes_out;
} relay_report_t;

typedef struct {
  uint32_t live;          /* tunnels adopted and not yet taken */
  uint32_t high_slot;     /* the idle scan's bound: 1 + the highest slot in use */
  uint32_t pipes;         /* directions on splice now */
  uint64_t pipes_opened;  /* directions moved to splice since start */
  uint64_t pipes_refused; /* pipes closed because the kernel gave less than RELAY_MIN_PIPE */
  int failed;             /* the errno that stopped the relay thread, or 0 */
} relay_stats_t;

/* Start a relay: its epoll set and its thread. 0, or an errno (nothing left behind). */
int relay_start(relay_t **out, const relay_opts_t *opts);

/*
 * Owner: carry a tunnel. The caller keeps its own descriptors (and closes
 * them); the relay works on duplicates. quiet_ms: how long the tunnel has
 * been quiet already, so the idle timeout counts from its last byte.
 * Returns the tunnel's id (>= 0), or -errno: -EMFILE (no free slot or
 * descriptor), -ENOMEM, -ESHUTDOWN (the relay thread has stopped), or the
 * error of fcntl/epoll_ctl on the duplicates.
 */
int32_t relay_adopt(relay_t *r, int client_fd, int backend_fd, int64_t idle_ms, int64_t quiet_ms);

/* Owner: end a tunnel now (reason: enum relay_end); its report follows as for any end. 0 or ENOMEM. */
int relay_close(relay_t *r, uint32_t id, int reason);

/* Owner: report every finished tunnel to fn, oldest first, and put its slot back. Returns how many. */
typedef void (*relay_report_fn)(void *ctx, const relay_report_t *report);
uint32_t relay_take(relay_t *r, relay_report_fn fn, void *ctx);

/* Owner: counters (see relay_stats_t). */
void relay_stats(relay_t *r, relay_stats_t *out);

/*
 * Owner: stop the thread and join it, close every tunnel still open
 * (without reports), free everything, r included. The counters are not
 * touched afterwards.
 */
void relay_stop(relay_t *r);

#ifdef RELAY_TEST_HOOKS
/* Test builds only: called by the relay thread at the end of each idle scan, with the shortest timeout it found. */
void relay_test_scan_end(relay_t *r, int64_t min_idle_found);
#endif

#endif
