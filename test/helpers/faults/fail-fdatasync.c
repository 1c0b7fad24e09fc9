/*
 * An LD_PRELOAD shim that makes a disk fail the way a dying one does for background write-back: fdatasync(2)
 * answers EIO for every file whose path contains $FAIL_FDATASYNC_PATH. Everything else reaches libc as is.
 * Built by test/helpers/faults.ts with the C compiler that `npm ci` already needs for the addons.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fdatasync(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  const char *marker = getenv("FAIL_FDATASYNC_PATH");
  if (marker != NULL && *marker != '\0') {
    char link[64];
    char target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, target, sizeof target - 1);
    if (length > 0) {
      target[length] = '\0';
      if (strstr(target, marker) != NULL) {
        errno = EIO;
        return -1;
      }
    }
  }
  return real(fd);
}
