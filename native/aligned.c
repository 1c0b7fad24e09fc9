/*
 * Page-aligned buffers, for writes with O_DIRECT: the kernel takes such a write straight from the buffer to
 * the device only when its address is aligned to a page (a buffer merely aligned to the disk's 512-byte
 * sectors is split up and ran at a tenth of the speed here). Node cannot allocate one, so this addon does,
 * with posix_memalign, and frees it when the Buffer is collected.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* alignedBuffer(size): a Buffer of `size` uninitialised bytes starting on a page boundary. */
static napi_value aligned_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0) {
    napi_throw_range_error(env, NULL, "alignedBuffer(size) takes a positive size");
    return NULL;
  }
  void *data = NULL;
  int error = posix_memalign(&data, (size_t)sysconf(_SC_PAGESIZE), (size_t)size);
  if (error != 0) {
    napi_throw_error(env, NULL, strerror(error));
    return NULL;
  }
  napi_value buffer;
  if (napi_create_external_buffer(env, (size_t)size, data, release, NULL, &buffer) != napi_ok) {
    free(data);
    napi_throw_error(env, NULL, "cannot wrap the aligned memory in a Buffer");
    return NULL;
  }
  return buffer;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
    { "alignedBuffer", NULL, aligned_buffer, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, 1, methods);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
