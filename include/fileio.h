/* fileio.h: whole-file reads and crash-safe writes.
 *
 * file_write_atomic replaces a file so that, whatever happens (error, full
 * disk, signal, power loss, kill -9), the path holds either its previous
 * complete contents or the new complete contents: the bytes go to
 * PATH.tmp in the same directory, are flushed and fsync'd, then renamed
 * over PATH, and the directory is fsync'd. On failure the temporary file is
 * removed and PATH is untouched. A PATH.tmp left by a killed process is
 * simply overwritten and renamed by the next successful write. */
#ifndef FMNIST_FILEIO_H
#define FMNIST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Refuses to replace anything but a regular file (a directory, /dev/full);
 * through a symlink it replaces the file the link points to. */
int file_write_atomic(const char *path, const void *data, size_t len, fm_err *e);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer.
 * path "-" reads standard input (also bounded by max). On failure *data
 * and *len are untouched. */
int file_read_all(const char *path, size_t max, uint8_t **data, size_t *len, fm_err *e);

#endif
