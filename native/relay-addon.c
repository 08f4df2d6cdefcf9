/*
 * The Node-API binding of lb4's relay engine (native/relay-engine.h). What
 * JavaScript sees (src/l4/relay.ts is the only caller):
 *
 *   reasons                      the end reasons' names, in the engine's order
 *   init(onEnd, onFail, opts?)   start the relay thread; returns the live byte
 *                                counts (Float64Array, [slot*2] in, [slot*2+1] out)
 *     onEnd(id, reason, errno, bytesIn, bytesOut)  a tunnel ended
 *     onFail(errno, message)     the relay thread stopped (its tunnels were
 *                                reported as ended just before)
 *     opts.pipeSize              the splice pipe size to ask for (bytes)
 *   adopt(clientFd, backendFd, idleMs, idleSoFarMs) -> id >= 0, or -errno
 *   close(id, reason)            end a tunnel now; its onEnd follows
 *   stats()                      {live, highSlot, pipes, pipesOpened, pipesRefused, failed}
 *   stop()                       stop and join the thread, close what is open, free all
 *   trim()                       glibc malloc_trim(0): give free C heap back
 *   raiseNofile()                soft RLIMIT_NOFILE up to the hard limit; {soft, hard}
 *
 * Reports cross from the relay thread through one thread-safe function,
 * kept unreferenced while no tunnel is live so it never holds the process
 * open. Every napi_* status is checked; a misused call throws a TypeError
 * naming the argument (code LB_ERR_RELAY_ARG).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include "relay-engine.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

typedef struct {
  relay_t *relay;
  /* The live byte counts: mmap'd, owned by an external ArrayBuffer (unmapped
   * by its finalizer), which counters_ref keeps alive until stop(): the
   * relay thread writes there whatever JavaScript holds. */
  napi_ref counters_ref;
  napi_threadsafe_function tsfn;
  napi_ref on_end, on_fail;
  int fail_reported;
  int hook_added;
  int stopped;
} addon_t;

#define COUNTERS_BYTES ((size_t)RELAY_MAX_SLOTS * 2 * sizeof(double))

/* A napi call that can only fail on a broken environment (bad arguments, V8 out of memory) failed. */
static void fatal(const char *what) {
  napi_fatal_error("lb4 relay", NAPI_AUTO_LENGTH, what, NAPI_AUTO_LENGTH);
}

/* Throw an Error (or a TypeError) with a code. An exception already pending stays the one thrown. */
static napi_value throw_as(napi_env env, int type_error, const char *code, const char *msg) {
  napi_status st = type_error ? napi_throw_type_error(env, code, msg) : napi_throw_error(env, code, msg);
  if (st != napi_ok && st != napi_pending_exception) fatal("cannot throw an exception");
  return NULL;
}

/* Throws the pending error for a failed napi call (unless one is pending already) and returns NULL. */
static napi_value napi_fail(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  const napi_extended_error_info *info = NULL;
  char msg[200];
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message)
    snprintf(msg, sizeof msg, "lb4 relay: %s: %s", what, info->error_message);
  else
    snprintf(msg, sizeof msg, "lb4 relay: %s failed", what);
  return throw_as(env, 0, "LB_ERR_RELAY", msg);
}

#define NAPI_OK(env, call, what)                    \
  do {                                              \
    if ((call) != napi_ok) return napi_fail(env, what); \
  } while (0)

static napi_value throw_arg(napi_env env, const char *msg) {
  return throw_as(env, 1, "LB_ERR_RELAY_ARG", msg);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[200];
  snprintf(msg, sizeof msg, "lb4 relay: %s: %s", what, strerror(err));
  return throw_as(env, 0, "LB_ERR_RELAY", msg);
}

/* The call's arguments: `min`..`max` of them, else a TypeError. Returns how many, or -1 (thrown). */
static int get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv, const char *usage) {
  size_t argc = max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_fail(env, "napi_get_cb_info");
    return -1;
  }
  if (argc < min || argc > max) {
    char msg[200];
    if (min == max) snprintf(msg, sizeof msg, "lb4 relay: %s: expected %zu argument(s), got %zu", usage, min, argc);
    else snprintf(msg, sizeof msg, "lb4 relay: %s: expected %zu to %zu arguments, got %zu", usage, min, max, argc);
    throw_arg(env, msg);
    return -1;
  }
  return (int)argc;
}

/* A finite number within [lo, hi], else a TypeError naming it. */
static int get_number(napi_env env, napi_value v, double lo, double hi, const char *name, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    napi_fail(env, "napi_typeof");
    return -1;
  }
  char msg[200];
  if (t != napi_number) {
    snprintf(msg, sizeof msg, "lb4 relay: %s must be a number", name);
    throw_arg(env, msg);
    return -1;
  }
  if (napi_get_value_double(env, v, out) != napi_ok) {
    napi_fail(env, "napi_get_value_double");
    return -1;
  }
  if (!(*out >= lo && *out <= hi)) { /* NaN fails too */
    snprintf(msg, sizeof msg, "lb4 relay: %s out of range (%.0f..%.0f)", name, lo, hi);
    throw_arg(env, msg);
    return -1;
  }
  return 0;
}

static int get_function(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    napi_fail(env, "napi_typeof");
    return -1;
  }
  if (t != napi_function) {
    char msg[200];
    snprintf(msg, sizeof msg, "lb4 relay: %s must be a function", name);
    throw_arg(env, msg);
    return -1;
  }
  return 0;
}

static addon_t *instance(napi_env env) {
  addon_t *a = NULL;
  if (napi_get_instance_data(env, (void **)&a) != napi_ok || !a) {
    napi_fail(env, "napi_get_instance_data");
    return NULL;
  }
  return a;
}

/* ---- reports, on JavaScript's thread ---- */

typedef struct {
  napi_env env;
  napi_value cb, undef;
} report_ctx_t;

/* An exception thrown by a callback: let Node report it as uncaught, and go on with the next report. */
static void rethrow_uncaught(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;
  napi_value e;
  if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
}

static void report_one(void *ctx, const relay_report_t *rep) {
  report_ctx_t *c = ctx;
  napi_value argv[5], ignored;
  if (napi_create_uint32(c->env, rep->id, &argv[0]) != napi_ok || napi_create_int32(c->env, rep->reason, &argv[1]) != napi_ok ||
      napi_create_int32(c->env, rep->err, &argv[2]) != napi_ok || napi_create_double(c->env, rep->bytes_in, &argv[3]) != napi_ok ||
      napi_create_double(c->env, rep->bytes_out, &argv[4]) != napi_ok)
    fatal("cannot create the arguments of a report");
  if (napi_call_function(c->env, c->undef, c->cb, 5, argv, &ignored) != napi_ok) rethrow_uncaught(c->env);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)data;
  addon_t *a = context;
  if (env == NULL || a->relay == NULL) return; /* tearing down: relay_stop frees what is left */
  report_ctx_t c = { env, NULL, NULL };
  if (napi_get_reference_value(env, a->on_end, &c.cb) != napi_ok || napi_get_undefined(env, &c.undef) != napi_ok) fatal("cannot reach the report callback");
  relay_take(a->relay, report_one, &c);
  relay_stats_t st;
  relay_stats(a->relay, &st);
  if (st.live == 0 && napi_unref_threadsafe_function(env, a->tsfn) != napi_ok) {
    /* only fails for a released function: there is nothing to hold open then */
  }
  if (st.failed && !a->fail_reported) {
    a->fail_reported = 1;
    napi_value cb, argv[2], ignored;
    char msg[160];
    snprintf(msg, sizeof msg, "the relay thread stopped: epoll_wait: %s", strerror(st.failed));
    if (napi_get_reference_value(env, a->on_fail, &cb) != napi_ok || napi_create_int32(env, st.failed, &argv[0]) != napi_ok ||
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &argv[1]) != napi_ok)
      fatal("cannot report the relay thread's failure");
    if (napi_call_function(env, c.undef, cb, 2, argv, &ignored) != napi_ok) rethrow_uncaught(env);
  }
}

/* Relay thread: ask for call_js. Nonzero when the call cannot be queued (the function is closing). */
static int notify(void *ctx) {
  addon_t *a = ctx;
  return napi_call_threadsafe_function(a->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok;
}

/* ---- lifecycle ---- */

/* Stop the relay (idempotent): join its thread, close its tunnels, free it. */
static void stop_relay(addon_t *a) {
  if (a->relay) {
    relay_t *r = a->relay;
    relay_stop(r); /* joins first: no notify() runs after this */
    a->relay = NULL;
  }
}

/* Environment teardown (worker thread exit, embedder): registered after the
 * thread-safe function was created, so it runs before Node closes it. */
static void env_cleanup(void *arg) {
  stop_relay(arg);
}

static void unmap_counters(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  if (munmap(data, COUNTERS_BYTES) != 0) {
    /* only fails for a bad range: nothing is mapped there to give back */
  }
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_t *a = data;
  stop_relay(a); /* already done by env_cleanup or stop(); idempotent */
  free(a);
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int argc = get_args(env, info, 2, 3, argv, "init(onEnd, onFail, options?)");
  if (argc < 0) return NULL;
  if (get_function(env, argv[0], "onEnd") < 0 || get_function(env, argv[1], "onFail") < 0) return NULL;
  addon_t *a = instance(env);
  if (!a) return NULL;
  if (a->relay || a->stopped) return throw_as(env, 0, "LB_ERR_RELAY", a->stopped ? "lb4 relay: stopped for good" : "lb4 relay: already started");
  double pipe_size = 0;
  napi_valuetype t = napi_undefined;
  napi_value opts = NULL;
  if (argc > 2) {
    opts = argv[2];
    NAPI_OK(env, napi_typeof(env, opts, &t), "napi_typeof");
    if (t != napi_object && t != napi_undefined) return throw_arg(env, "lb4 relay: options must be an object");
  }
  if (t == napi_object) {
    bool has = false;
    NAPI_OK(env, napi_has_named_property(env, opts, "pipeSize", &has), "napi_has_named_property");
    if (has) {
      napi_value v;
      NAPI_OK(env, napi_get_named_property(env, opts, "pipeSize", &v), "napi_get_named_property");
      if (get_number(env, v, 0, 1 << 30, "options.pipeSize", &pipe_size) < 0) return NULL;
    }
  }

  void *mem = mmap(NULL, COUNTERS_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return throw_errno(env, "mmap", errno);
  napi_value ab, arr;
  /* from here on the ArrayBuffer owns the mapping (unmapped when collected) */
  if (napi_create_external_arraybuffer(env, mem, COUNTERS_BYTES, unmap_counters, NULL, &ab) != napi_ok) {
    unmap_counters(env, mem, NULL);
    return napi_fail(env, "napi_create_external_arraybuffer");
  }
  NAPI_OK(env, napi_create_typedarray(env, napi_float64_array, (size_t)RELAY_MAX_SLOTS * 2, ab, 0, &arr), "napi_create_typedarray");
  if (a->counters_ref) NAPI_OK(env, napi_delete_reference(env, a->counters_ref), "napi_delete_reference");
  a->counters_ref = NULL;
  NAPI_OK(env, napi_create_reference(env, ab, 1, &a->counters_ref), "napi_create_reference");

  napi_value name;
  NAPI_OK(env, napi_create_string_utf8(env, "lb4-relay", NAPI_AUTO_LENGTH, &name), "napi_create_string_utf8");
  if (!a->on_end) NAPI_OK(env, napi_create_reference(env, argv[0], 1, &a->on_end), "napi_create_reference");
  if (!a->on_fail) NAPI_OK(env, napi_create_reference(env, argv[1], 1, &a->on_fail), "napi_create_reference");
  if (!a->tsfn) {
    NAPI_OK(env, napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, a, call_js, &a->tsfn), "napi_create_threadsafe_function");
    NAPI_OK(env, napi_unref_threadsafe_function(env, a->tsfn), "napi_unref_threadsafe_function");
  }
  if (!a->hook_added) {
    NAPI_OK(env, napi_add_env_cleanup_hook(env, env_cleanup, a), "napi_add_env_cleanup_hook");
    a->hook_added = 1;
  }
  relay_opts_t o = { mem, (uint32_t)pipe_size, notify, a };
  int err = relay_start(&a->relay, &o);
  if (err) return throw_errno(env, "cannot start the relay thread", err);
  return arr;
}

static napi_value js_adopt(napi_env env, napi_callback_info info) {
  napi_value argv[4], out;
  if (get_args(env, info, 4, 4, argv, "adopt(clientFd, backendFd, idleMs, idleSoFarMs)") < 0) return NULL;
  double cfd, bfd, idle, quiet;
  if (get_number(env, argv[0], 0, INT32_MAX, "clientFd", &cfd) < 0 || get_number(env, argv[1], 0, INT32_MAX, "backendFd", &bfd) < 0 ||
      get_number(env, argv[2], 0, 9007199254740991.0, "idleMs", &idle) < 0 ||
      get_number(env, argv[3], 0, 9007199254740991.0, "idleSoFarMs", &quiet) < 0)
    return NULL;
  addon_t *a = instance(env);
  if (!a) return NULL;
  int32_t result = -ESHUTDOWN;
  if (a->relay) {
    result = relay_adopt(a->relay, (int)cfd, (int)bfd, (int64_t)idle, (int64_t)quiet);
    if (result >= 0) {
      relay_stats_t st;
      relay_stats(a->relay, &st);
      if (st.live == 1) NAPI_OK(env, napi_ref_threadsafe_function(env, a->tsfn), "napi_ref_threadsafe_function");
    }
  }
  NAPI_OK(env, napi_create_int32(env, result, &out), "napi_create_int32");
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, 2, argv, "close(id, reason)") < 0) return NULL;
  double id, reason;
  if (get_number(env, argv[0], 0, INT32_MAX, "id", &id) < 0 || get_number(env, argv[1], 0, RELAY_END_COUNT - 1, "reason", &reason) < 0) return NULL;
  addon_t *a = instance(env);
  if (!a) return NULL;
  if (a->relay) {
    int err = relay_close(a->relay, (uint32_t)id, (int)reason);
    if (err) return throw_errno(env, "close", err);
  }
  return NULL;
}

static napi_status set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_status s = napi_create_double(env, v, &n);
  return s != napi_ok ? s : napi_set_named_property(env, obj, key, n);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  if (get_args(env, info, 0, 0, argv, "stats()") < 0) return NULL;
  addon_t *a = instance(env);
  if (!a) return NULL;
  relay_stats_t st;
  memset(&st, 0, sizeof st);
  if (a->relay) relay_stats(a->relay, &st);
  NAPI_OK(env, napi_create_object(env, &out), "napi_create_object");
  if (set_number(env, out, "live", st.live) != napi_ok || set_number(env, out, "highSlot", st.high_slot) != napi_ok ||
      set_number(env, out, "pipes", st.pipes) != napi_ok || set_number(env, out, "pipesOpened", (double)st.pipes_opened) != napi_ok ||
      set_number(env, out, "pipesRefused", (double)st.pipes_refused) != napi_ok || set_number(env, out, "failed", st.failed) != napi_ok)
    return napi_fail(env, "stats");
  return out;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 0, 0, argv, "stop()") < 0) return NULL;
  addon_t *a = instance(env);
  if (!a) return NULL;
  int had = a->relay != NULL;
  stop_relay(a);
  a->stopped = 1;
  if (had) {
    /* Reports still queued were freed by relay_stop; nothing calls into JavaScript any more. */
    NAPI_OK(env, napi_release_threadsafe_function(a->tsfn, napi_tsfn_abort), "napi_release_threadsafe_function");
  }
  if (a->counters_ref) {
    /* the relay thread is gone: the counts may go with the last JavaScript reference */
    NAPI_OK(env, napi_delete_reference(env, a->counters_ref), "napi_delete_reference");
    a->counters_ref = NULL;
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
  napi_value argv[1], out;
  if (get_args(env, info, 0, 0, argv, "trim()") < 0) return NULL;
#ifdef __GLIBC__
  NAPI_OK(env, napi_get_boolean(env, malloc_trim(0) != 0, &out), "napi_get_boolean");
#else
  NAPI_OK(env, napi_get_boolean(env, false, &out), "napi_get_boolean");
#endif
  return out;
}

/*
 * raiseNofile(): raise the soft RLIMIT_NOFILE to the hard limit (an
 * unlimited hard limit is capped at what the kernel allows, nr_open, by
 * halving until setrlimit accepts). Returns {soft, hard} as they are after.
 */
static napi_value js_raise_nofile(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  if (get_args(env, info, 0, 0, argv, "raiseNofile()") < 0) return NULL;
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return throw_errno(env, "getrlimit", errno);
  if (lim.rlim_cur < lim.rlim_max) {
    struct rlimit want = lim;
    want.rlim_cur = lim.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 30 : lim.rlim_max;
    while (want.rlim_cur > lim.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) != 0) {
      if (errno != EPERM && errno != EINVAL) return throw_errno(env, "setrlimit", errno);
      want.rlim_cur /= 2; /* above nr_open: try lower */
    }
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return throw_errno(env, "getrlimit", errno);
  }
  NAPI_OK(env, napi_create_object(env, &out), "napi_create_object");
  double hard = lim.rlim_max == RLIM_INFINITY ? -1 : (double)lim.rlim_max;
  if (set_number(env, out, "soft", (double)lim.rlim_cur) != napi_ok || set_number(env, out, "hard", hard) != napi_ok) return napi_fail(env, "raiseNofile");
  return out;
}

static napi_value init_module(napi_env env, napi_value exports) {
  addon_t *a = calloc(1, sizeof *a);
  if (!a) return throw_as(env, 0, "LB_ERR_RELAY", "lb4 relay: out of memory");
  if (napi_set_instance_data(env, a, free_instance, NULL) != napi_ok) {
    free(a);
    return napi_fail(env, "napi_set_instance_data");
  }
  napi_value reasons;
  NAPI_OK(env, napi_create_array_with_length(env, RELAY_END_COUNT, &reasons), "napi_create_array_with_length");
  for (uint32_t i = 0; i < RELAY_END_COUNT; i++) {
    napi_value s;
    NAPI_OK(env, napi_create_string_utf8(env, relay_end_names[i], NAPI_AUTO_LENGTH, &s), "napi_create_string_utf8");
    NAPI_OK(env, napi_set_element(env, reasons, i, s), "napi_set_element");
  }
  napi_property_descriptor props[] = {
    { "reasons", NULL, NULL, NULL, NULL, reasons, napi_enumerable, NULL },
    { "init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL },
    { "adopt", NULL, js_adopt, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL },
    { "stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL },
    { "trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL },
    { "raiseNofile", NULL, js_raise_nofile, NULL, NULL, NULL, napi_default, NULL },
  };
  NAPI_OK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props), "napi_define_properties");
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
