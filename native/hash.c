/*
 * berth_hash: SHA-256 whose state can be saved and restored, so that an upload's running hash survives a
 * change of process: a chunked upload whose PATCHes reach different workers or replicas continues the hash
 * where the last one stopped instead of reading the whole upload again. Node's crypto cannot export a
 * hash's state; OpenSSL's SHA256_CTX (from the OpenSSL that Node links and exports) can be copied.
 *
 * The saved form is the one Go's crypto/sha256 marshals, which Distribution stores in an upload's
 * `hashstates/sha256/<offset>` (108 bytes): "sha\x03", the eight state words big-endian, the 64-byte block
 * buffer (the pending bytes, zero-padded), and the byte count big-endian.
 *
 *   sha256New() -> context             a Buffer holding a SHA256_CTX
 *   sha256Update(context, bytes)
 *   sha256Digest(context) -> Buffer(32) of the bytes so far; the context can go on
 *   sha256Save(context) -> Buffer(108)
 *   sha256Restore(saved) -> context    throws a TypeError for anything but a saved SHA-256 state
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define MAGIC "sha\x03"
#define MAGIC_BYTES 4
#define SAVED_BYTES (MAGIC_BYTES + 8 * 4 + SHA256_CBLOCK + 8)

/* The SHA256_CTX inside a context Buffer, or NULL with a TypeError thrown. */
static SHA256_CTX *context_of(napi_env env, napi_value value) {
  bool is_buffer = false;
  void *data = NULL;
  size_t length = 0;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &length) != napi_ok || length != sizeof(SHA256_CTX)) {
    napi_throw_type_error(env, NULL, "not a SHA-256 context");
    return NULL;
  }
  return data;
}

static napi_value new_context(napi_env env, SHA256_CTX **context) {
  napi_value buffer;
  if (napi_create_buffer(env, sizeof(SHA256_CTX), (void **)context, &buffer) != napi_ok) return NULL;
  return buffer;
}

static size_t args(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  return argc;
}

/* The context that is a function's only argument, or NULL with a TypeError naming `usage` thrown. */
static SHA256_CTX *context_argument(napi_env env, napi_callback_info info, const char *usage) {
  napi_value argv[1];
  if (args(env, info, argv, 1) < 1) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return context_of(env, argv[0]);
}

static napi_value sha256_new(napi_env env, napi_callback_info info) {
  (void)info;
  SHA256_CTX *context;
  napi_value buffer = new_context(env, &context);
  if (buffer != NULL) SHA256_Init(context);
  return buffer;
}

static napi_value sha256_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (args(env, info, argv, 2) < 2) {
    napi_throw_type_error(env, NULL, "sha256Update(context, bytes)");
    return NULL;
  }
  SHA256_CTX *context = context_of(env, argv[0]);
  if (context == NULL) return NULL;
  void *data = NULL;
  size_t length = 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "sha256Update takes a Uint8Array");
    return NULL;
  }
  SHA256_Update(context, data, length);
  return NULL;
}

static napi_value sha256_digest(napi_env env, napi_callback_info info) {
  SHA256_CTX *context = context_argument(env, info, "sha256Digest(context)");
  if (context == NULL) return NULL;
  SHA256_CTX copy = *context;
  void *out;
  napi_value buffer;
  if (napi_create_buffer(env, SHA256_DIGEST_LENGTH, &out, &buffer) != napi_ok) return NULL;
  SHA256_Final(out, &copy);
  return buffer;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static napi_value sha256_save(napi_env env, napi_callback_info info) {
  SHA256_CTX *context = context_argument(env, info, "sha256Save(context)");
  if (context == NULL) return NULL;
  unsigned char *out;
  napi_value buffer;
  if (napi_create_buffer(env, SAVED_BYTES, (void **)&out, &buffer) != napi_ok) return NULL;
  memset(out, 0, SAVED_BYTES);
  memcpy(out, MAGIC, MAGIC_BYTES);
  for (int i = 0; i < 8; i++) put_be32(out + MAGIC_BYTES + 4 * i, context->h[i]);
  /* The pending bytes sit at the start of the block buffer, in order. */
  memcpy(out + MAGIC_BYTES + 32, context->data, context->num);
  uint64_t bytes = ((uint64_t)context->Nh << 32 | context->Nl) >> 3;
  put_be32(out + SAVED_BYTES - 8, (uint32_t)(bytes >> 32));
  put_be32(out + SAVED_BYTES - 4, (uint32_t)bytes);
  return buffer;
}

static napi_value sha256_restore(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_buffer = false;
  unsigned char *saved = NULL;
  size_t length = 0;
  if (args(env, info, argv, 1) < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], (void **)&saved, &length) != napi_ok || length != SAVED_BYTES ||
      memcmp(saved, MAGIC, MAGIC_BYTES) != 0) {
    napi_throw_type_error(env, NULL, "not a saved SHA-256 state");
    return NULL;
  }
  SHA256_CTX *context;
  napi_value buffer = new_context(env, &context);
  if (buffer == NULL) return NULL;
  SHA256_Init(context);
  for (int i = 0; i < 8; i++) context->h[i] = get_be32(saved + MAGIC_BYTES + 4 * i);
  uint64_t bytes = (uint64_t)get_be32(saved + SAVED_BYTES - 8) << 32 | get_be32(saved + SAVED_BYTES - 4);
  context->Nl = (uint32_t)(bytes << 3);
  context->Nh = (uint32_t)(bytes >> 29);
  context->num = bytes % SHA256_CBLOCK;
  memcpy(context->data, saved + MAGIC_BYTES + 32, context->num);
  return buffer;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
    { "sha256New", NULL, sha256_new, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Update", NULL, sha256_update, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Digest", NULL, sha256_digest, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Save", NULL, sha256_save, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Restore", NULL, sha256_restore, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
