/* fileio.h: whole-file reads and crash-safe writes.
 *
 * file_write_atomic replaces a file so that, whatever happens (error, full
 * disk, signal, power loss, kill -9), the path holds either its previous
 * complete contents or the new complete contents: the bytes go to a new
 * temporary PATH.tmp-XXXXXX in the same directory (mkstemp: a unique name,
 * so two processes writing the same PATH never share it; PATH's name cut
 * short before .tmp-XXXXXX when the whole is too long for the directory's
 * file system), are flushed and
 * fsync'd, then renamed over PATH, and the directory is fsync'd. The new
 * file keeps the permission bits of the file it replaces (a new one gets
 * 0666 less the umask). On failure the temporary file is removed and PATH
 * is untouched. Only kill -9 or a power loss can leave a temporary behind. */
#ifndef FMNIST_FILEIO_H
#define FMNIST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Refuses to replace anything but a regular file (a directory, /dev/full),
 * and refuses to replace a non-empty file of another kind: the existing
 * file's first bytes (up to 8) must be the new data's, or both files of
 * one kind it knows by their first bytes (a PNG, a model, gzip, IDX,
 * safetensors), so a PNG never replaces a model or a data file, nor a
 * model a PNG (FM_EIO, "is an fmnist model, not a PNG image: not
 * replacing it"). Through a symlink it replaces the file the link points
 * to. */
int file_write_atomic(const char *path, const void *data, size_t len, fm_err *e);

/* Whether file_write_atomic(path, data, ...) would be refused before it
 * writes anything, for data whose first head_len bytes are head: the
 * checks above, the file's folder must exist and be writable, and the
 * name must fit its file system. For a command that works for minutes
 * before it saves (train). */
int file_check_replace(const char *path, const void *head, size_t head_len, fm_err *e);

/* Removes the temporary file that file_write_atomic is writing, if any.
 * Async-signal-safe: for a signal handler that is about to end the
 * process (SIGINT, SIGTERM, SIGHUP) in the middle of a save. */
void file_remove_temporary(void);

/* "a regular file", "a directory", "a FIFO", "a socket", "a device", ...
 * for a stat st_mode, in messages. */
const char *file_kind(unsigned mode);

/* Opens path for reading (close-on-exec), without blocking on a FIFO, and
 * checks it is a regular file: *fd and *size on success. A missing file is
 * FM_ENOTFOUND, another kind of file not_regular (FM_EIO or FM_EFORMAT, as
 * the caller words it), with its kind named; nothing is left open. */
int file_open_regular(const char *path, int not_regular, int *fd, uint64_t *size, fm_err *e);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer.
 * path "-" reads standard input (also bounded by max). On failure *data
 * and *len are untouched. */
int file_read_all(const char *path, size_t max, uint8_t **data, size_t *len, fm_err *e);

#endif
