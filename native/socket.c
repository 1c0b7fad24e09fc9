/*
 * berth_socket: moves blob bytes between a TCP socket and the process off the main thread.
 *
 *   send(socketFd, fileFd, offset, length, callback(errno, bytesMoved)) -> id
 *       hands a range of a file to the socket with Linux sendfile(2), so the bytes go from the page cache to
 *       the socket without passing through userspace;
 *   receive(socketFd, buffer, offset, length, callback(errno, bytesMoved)) -> id
 *       reads exactly `length` bytes from the socket into buffer[offset...], or fewer if the peer ends the
 *       stream first (errno 0). JavaScript must leave those bytes of the buffer alone until the callback;
 *   cancel(id)   ends a transfer still running; its callback then gets ECANCELED.
 *   bindShared(address, port, exclusive) -> fd
 *       a TCP socket bound to an IPv4 or IPv6 address with SO_REUSEPORT, for Node to listen on: each process
 *       of a server binds its own, and the kernel spreads new connections evenly over them. With `exclusive`
 *       the address must be free first (a plain bind is tried and undone), so that a server never joins
 *       sockets another one bound. Throws an Error with `errno` on failure.
 *
 * Why receive: a request body read by Node arrives as one new Buffer of at most 64 KiB per read, each a
 * fresh allocation that V8 counts as external memory; at hundreds of MiB/s that alone made V8 collect
 * garbage (a full mark-compact) about every 64 MiB. Here a thread fills a buffer the caller reuses, in
 * reads as large as the socket holds.
 *
 * Descriptors: send() and receive() dup() the descriptors they are given and the transfer only ever uses its
 * own copies, which it closes when it ends, so a descriptor that JavaScript closes (and the kernel recycles)
 * meanwhile is never touched. A socket whose Node handle is closed stays connected until its transfer ends,
 * which cancel() makes prompt.
 *
 * Threads: WORKERS background threads per addon instance run the transfers, off the main thread and off
 * libuv's threadpool (which file-system calls need). There are several because sendfile reads the file
 * synchronously: a transfer waiting for the disk holds up only the transfers of its own thread, and a new
 * transfer goes to the thread with the fewest. Each thread waits on its own epoll instance: the copy of a
 * socket is registered EPOLLOUT|EPOLLONESHOT whenever a send finds the socket's buffer full, or
 * EPOLLIN|EPOLLONESHOT whenever a receive finds it empty (libuv's epoll registrations of the same socket are
 * independent; the caller keeps libuv from reading a socket while a receive runs). A transfer moves at most
 * TURN_BYTES before yielding to the others. New transfers and cancellations reach a thread through a mutex-guarded
 * list and an eventfd; results reach JavaScript through a thread-safe function. A transfer's memory is only
 * freed on the main thread, after its callback ran, so cancel() can never touch freed memory.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

/** Bytes one transfer may send before the others get a turn. */
#define TURN_BYTES (4 << 20)
/** Threads running transfers: as many as libuv's default threadpool has for file reads. */
#define WORKERS 4
/** sendfile(2) sends at most this many bytes per call. */
#define MAX_CALL_BYTES 0x7ffff000

struct worker;

typedef enum { SEND, RECEIVE } direction;

typedef struct transfer {
  /* Owned by the main thread. */
  uint32_t id;
  struct worker *worker;
  napi_ref callback;
  napi_ref buffer;              /* RECEIVE: keeps the destination alive until the callback */
  struct transfer *prev, *next; /* the main thread's list of transfers whose callback has not run */
  /* Owned by the worker thread once queued. */
  struct transfer *queued;      /* the incoming list, then the worker's list of running transfers */
  direction direction;
  int sock, file;               /* our own copies; file is -1 for RECEIVE */
  off_t offset;                 /* SEND: where in the file the next byte comes from */
  char *into;                   /* RECEIVE: where the next byte goes */
  int64_t remaining, moved;
  int registered;               /* the socket is in the worker's epoll set */
  int error;                    /* errno, 0 when every byte was sent */
  int cancel;                   /* set by cancel(); read and written atomically */
} transfer;

typedef struct worker {
  napi_threadsafe_function done;
  pthread_t thread;
  pthread_mutex_t lock;
  int epoll, wake;
  /* Under lock: transfers not yet seen by the thread, and whether to stop. */
  transfer *incoming;
  int stopping;
  /* Atomic: some cancel() is waiting for the thread. */
  int cancels;
  /* Main thread only: transfers whose callback has not run. */
  int load;
} worker;

typedef struct {
  napi_threadsafe_function done;
  worker workers[WORKERS];
  int started; /* workers whose thread runs */
  /* Main thread only. */
  transfer *live;
  uint32_t next_id;
} instance;

/* ---- worker thread ---- */

static void finish(worker *w, transfer **running, transfer *t, int error) {
  transfer **p = running;
  while (*p != t) p = &(*p)->queued;
  *p = t->queued;
  if (t->registered) epoll_ctl(w->epoll, EPOLL_CTL_DEL, t->sock, NULL);
  close(t->sock);
  if (t->file >= 0) close(t->file);
  t->error = error;
  napi_call_threadsafe_function(w->done, t, napi_tsfn_nonblocking);
}

static void wait_ready(worker *w, transfer **running, transfer *t) {
  uint32_t ready = t->direction == SEND ? EPOLLOUT : EPOLLIN;
  struct epoll_event event = { .events = ready | EPOLLONESHOT, .data.ptr = t };
  if (epoll_ctl(w->epoll, t->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, t->sock, &event) == 0) {
    t->registered = 1;
  } else {
    finish(w, running, t, errno);
  }
}

/*
 * Moves what the socket takes or holds, up to a turn's worth, then waits for the socket or ends the transfer.
 * A socket whose peer has sent everything reads as 0: a receive then ends early, without an error.
 */
static void pump(worker *w, transfer **running, transfer *t) {
  int64_t turn = 0;
  while (t->remaining > 0) {
    if (turn >= TURN_BYTES) return wait_ready(w, running, t);
    size_t want = t->remaining < MAX_CALL_BYTES ? (size_t)t->remaining : MAX_CALL_BYTES;
    ssize_t n = t->direction == SEND ? sendfile(t->sock, t->file, &t->offset, want) : read(t->sock, t->into, want);
    if (n > 0) {
      if (t->direction == RECEIVE) t->into += n;
      t->remaining -= n;
      t->moved += n;
      turn += n;
    } else if (n == 0) {
      /* A send past the end of the file: it is shorter than the range. */
      return finish(w, running, t, t->direction == SEND ? ENODATA : 0);
    } else if (errno == EAGAIN) {
      return wait_ready(w, running, t);
    } else if (errno != EINTR) {
      return finish(w, running, t, errno);
    }
  }
  finish(w, running, t, 0);
}

static void *work(void *arg) {
  worker *w = arg;
  transfer *running = NULL;
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(w->epoll, events, 64, -1);
    int woken = 0;
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        woken = 1;
      } else {
        pump(w, &running, events[i].data.ptr);
      }
    }
    if (!woken) continue;
    uint64_t count;
    (void)!read(w->wake, &count, sizeof count);
    pthread_mutex_lock(&w->lock);
    transfer *fresh = w->incoming;
    w->incoming = NULL;
    int stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    if (__atomic_exchange_n(&w->cancels, 0, __ATOMIC_ACQ_REL)) {
      for (transfer *t = running, *next; t != NULL; t = next) {
        next = t->queued;
        if (__atomic_load_n(&t->cancel, __ATOMIC_ACQUIRE)) finish(w, &running, t, ECANCELED);
      }
    }
    while (fresh != NULL) {
      transfer *t = fresh;
      fresh = t->queued;
      t->queued = running;
      running = t;
      if (__atomic_load_n(&t->cancel, __ATOMIC_ACQUIRE)) {
        finish(w, &running, t, ECANCELED);
      } else {
        pump(w, &running, t);
      }
    }
    if (stopping) {
      while (running != NULL) finish(w, &running, running, ECANCELED);
      return NULL;
    }
  }
}

static void wake(worker *w) {
  uint64_t one = 1;
  (void)!write(w->wake, &one, sizeof one);
}

/* ---- main thread ---- */

static void unlink_live(instance *in, transfer *t) {
  if (t->prev) t->prev->next = t->next; else in->live = t->next;
  if (t->next) t->next->prev = t->prev;
}

/* Runs on the main thread for each ended transfer; env is NULL when the environment is going away. */
static void call_js(napi_env env, napi_value unused, void *context, void *data) {
  (void)unused;
  instance *in = context;
  transfer *t = data;
  unlink_live(in, t);
  t->worker->load--;
  if (env != NULL) {
    napi_value callback, global, args[2];
    if (napi_get_reference_value(env, t->callback, &callback) == napi_ok && callback != NULL) {
      napi_get_global(env, &global);
      napi_create_int32(env, t->error, &args[0]);
      napi_create_int64(env, t->moved, &args[1]);
      napi_call_function(env, global, callback, 2, args, NULL);
    }
    napi_delete_reference(env, t->callback);
    if (t->buffer != NULL) napi_delete_reference(env, t->buffer);
  }
  free(t);
}

static napi_value throw_errno(napi_env env, const char *what, int error) {
  napi_value code, message, err;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &message);
  napi_create_int32(env, error, &code);
  napi_create_error(env, NULL, message, &err);
  napi_set_named_property(env, err, "errno", code);
  napi_throw(env, err);
  return NULL;
}

/* Hands a prepared transfer (descriptors duplicated) to the least loaded thread; answers its id. */
static napi_value queue(napi_env env, instance *in, transfer *t, napi_value callback) {
  t->id = ++in->next_id;
  worker *w = &in->workers[0];
  for (int i = 1; i < WORKERS; i++) {
    if (in->workers[i].load < w->load) w = &in->workers[i];
  }
  t->worker = w;
  w->load++;
  napi_create_reference(env, callback, 1, &t->callback);
  t->next = in->live;
  if (in->live) in->live->prev = t;
  in->live = t;
  pthread_mutex_lock(&w->lock);
  t->queued = w->incoming;
  w->incoming = t;
  pthread_mutex_unlock(&w->lock);
  wake(w);
  napi_value id;
  napi_create_uint32(env, t->id, &id);
  return id;
}

/* A transfer on our own copy of `sock`, or NULL with a JavaScript error thrown. */
static transfer *new_transfer(napi_env env, direction direction, int sock, int64_t length) {
  transfer *t = calloc(1, sizeof *t);
  if (t == NULL) {
    throw_errno(env, "out of memory", ENOMEM);
    return NULL;
  }
  t->direction = direction;
  t->file = -1;
  t->remaining = length;
  t->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (t->sock < 0) {
    throw_errno(env, "dup of the socket failed", errno);
    free(t);
    return NULL;
  }
  return t;
}

static napi_value start_send(napi_env env, napi_callback_info info) {
  instance *in;
  size_t argc = 5;
  napi_value argv[5];
  int32_t sock, file;
  int64_t offset, length;
  napi_valuetype type;
  napi_get_instance_data(env, (void **)&in);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || napi_get_value_int32(env, argv[0], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[1], &file) != napi_ok || napi_get_value_int64(env, argv[2], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[3], &length) != napi_ok || napi_typeof(env, argv[4], &type) != napi_ok ||
      type != napi_function || sock < 0 || file < 0 || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "send(socketFd, fileFd, offset, length, callback)");
    return NULL;
  }
  transfer *t = new_transfer(env, SEND, sock, length);
  if (t == NULL) return NULL;
  t->file = fcntl(file, F_DUPFD_CLOEXEC, 0);
  if (t->file < 0) {
    int error = errno;
    close(t->sock);
    free(t);
    return throw_errno(env, "dup of the file failed", error);
  }
  t->offset = offset;
  return queue(env, in, t, argv[4]);
}

static napi_value start_receive(napi_env env, napi_callback_info info) {
  instance *in;
  size_t argc = 5;
  napi_value argv[5];
  int32_t sock;
  int64_t offset, length;
  void *data;
  size_t capacity;
  bool is_buffer;
  napi_valuetype type;
  napi_get_instance_data(env, (void **)&in);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok ||
      !is_buffer || napi_get_buffer_info(env, argv[1], &data, &capacity) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &length) != napi_ok ||
      napi_typeof(env, argv[4], &type) != napi_ok || type != napi_function || sock < 0 || offset < 0 || length < 0 ||
      (uint64_t)offset + (uint64_t)length > capacity) {
    napi_throw_type_error(env, NULL, "receive(socketFd, buffer, offset, length, callback) within the buffer");
    return NULL;
  }
  transfer *t = new_transfer(env, RECEIVE, sock, length);
  if (t == NULL) return NULL;
  t->into = (char *)data + offset;
  napi_create_reference(env, argv[1], 1, &t->buffer);
  return queue(env, in, t, argv[4]);
}

static napi_value cancel(napi_env env, napi_callback_info info) {
  instance *in;
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  napi_get_instance_data(env, (void **)&in);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "cancel(id)");
    return NULL;
  }
  for (transfer *t = in->live; t != NULL; t = t->next) {
    if (t->id != id) continue;
    __atomic_store_n(&t->cancel, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->worker->cancels, 1, __ATOMIC_RELEASE);
    wake(t->worker);
    break;
  }
  return NULL;
}

/* A socket of the address's family bound to it; with `reuse_port`, SO_REUSEPORT. -1 with errno on failure. */
static int bound_socket(const char *address, uint32_t port, int reuse_port) {
  struct sockaddr_storage storage;
  memset(&storage, 0, sizeof storage);
  socklen_t length;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
  } else {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int on = 1, off = 0;
  /* As Node sets them on its own listening sockets: rebind over TIME_WAIT, and `::` takes IPv4 too. */
  int ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
           (!reuse_port || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0) &&
           (storage.ss_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0) &&
           bind(fd, (struct sockaddr *)&storage, length) == 0;
  if (!ok) {
    int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

static napi_value bind_shared(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char address[INET6_ADDRSTRLEN];
  uint32_t port;
  bool exclusive;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], address, sizeof address, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535 ||
      napi_get_value_bool(env, argv[2], &exclusive) != napi_ok) {
    napi_throw_type_error(env, NULL, "bindShared(address, port, exclusive)");
    return NULL;
  }
  if (exclusive) {
    int probe = bound_socket(address, port, 0);
    if (probe < 0) return throw_errno(env, "bind failed", errno);
    close(probe);
  }
  int fd = bound_socket(address, port, 1);
  if (fd < 0) return throw_errno(env, "bind failed", errno);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/* Stops the threads when the environment (the process, or a worker thread) shuts down. */
static void cleanup(void *arg) {
  instance *in = arg;
  for (int i = 0; i < in->started; i++) {
    worker *w = &in->workers[i];
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_mutex_unlock(&w->lock);
    wake(w);
    pthread_join(w->thread, NULL);
  }
  napi_release_threadsafe_function(in->done, napi_tsfn_abort);
}

static napi_value init(napi_env env, napi_value exports) {
  instance *in = calloc(1, sizeof *in);
  if (in == NULL) return throw_errno(env, "out of memory", ENOMEM);
  napi_value name;
  napi_create_string_utf8(env, "berth_socket", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, in, call_js, &in->done) != napi_ok) {
    napi_throw_error(env, NULL, "cannot create the completion queue");
    return NULL;
  }
  /* Open sockets keep the process alive while transfers run; this queue need not. */
  napi_unref_threadsafe_function(env, in->done);
  napi_set_instance_data(env, in, NULL, NULL);
  napi_add_env_cleanup_hook(env, cleanup, in);
  for (int i = 0; i < WORKERS; i++) {
    worker *w = &in->workers[i];
    w->done = in->done;
    pthread_mutex_init(&w->lock, NULL);
    w->epoll = epoll_create1(EPOLL_CLOEXEC);
    w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
    if (w->epoll < 0 || w->wake < 0 || epoll_ctl(w->epoll, EPOLL_CTL_ADD, w->wake, &event) != 0) {
      return throw_errno(env, "epoll/eventfd set-up failed", errno);
    }
    int error = pthread_create(&w->thread, NULL, work, w);
    if (error != 0) return throw_errno(env, "cannot start a transfer thread", error);
    in->started++;
  }

  napi_property_descriptor methods[] = {
    { "send", NULL, start_send, NULL, NULL, NULL, napi_default, NULL },
    { "receive", NULL, start_receive, NULL, NULL, NULL, napi_default, NULL },
    { "cancel", NULL, cancel, NULL, NULL, NULL, napi_default, NULL },
    { "bindShared", NULL, bind_shared, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, 4, methods);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
