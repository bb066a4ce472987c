/* fileio.c: atomic replacement and bounded whole-file reads. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int file_write_atomic(const char *name, const void *data, size_t len, fm_err *e)
{
    /* Through a symlink, replace what it points to, not the link. */
    char resolved[PATH_MAX];
    struct stat st;
    const char *path = name;
    if (lstat(name, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (!realpath(name, resolved))
            return fm_fail(e, FM_EIO, name, "cannot follow the symlink: %s", strerror(errno));
        path = resolved;
    }
    char tmp[PATH_MAX + 8];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return fm_fail(e, FM_EINVAL, name, "path too long");
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return fm_fail(e, FM_EIO, name, "%s, not a regular file: not replacing it",
                       S_ISDIR(st.st_mode) ? "is a directory" : "is a device or special file");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(errno));
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(err));
    }
    if (close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return fm_fail(e, FM_EIO, name, "cannot replace: %s", strerror(err));
    }
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return FM_OK;
}

int file_read_all(const char *path, size_t max, uint8_t **data, size_t *len, fm_err *e)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fm_fail(e, errno == ENOENT ? FM_ENOTFOUND : FM_EIO, name, "cannot open: %s",
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        if (!is_stdin)
            close(fd);
        return fm_fail(e, FM_EIO, name, "cannot stat: %s", strerror(err));
    }
    if (!is_stdin) {
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return fm_fail(e, FM_EIO, name, "%s, not a regular file",
                           S_ISDIR(st.st_mode) ? "is a directory" : "is a device or special file");
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        if ((uint64_t)st.st_size > max) {
            close(fd);
            return fm_fail(e, FM_ELIMIT, name, "%lld bytes, more than the limit of %zu",
                           (long long)st.st_size, max);
        }
    }
    size_t cap = is_stdin ? 65536 : (size_t)st.st_size + 1, used = 0;
    uint8_t *buf = mem_alloc(cap);
    if (!buf) {
        if (!is_stdin)
            close(fd);
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    }
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                free(buf);
                if (!is_stdin)
                    close(fd);
                return fm_fail(e, FM_ELIMIT, name, "more than the limit of %zu bytes", max);
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                if (!is_stdin)
                    close(fd);
                return fm_fail(e, FM_ENOMEM, name, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            if (!is_stdin)
                close(fd);
            return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(err));
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    if (!is_stdin)
        close(fd);
    if (used > max) {
        free(buf);
        return fm_fail(e, FM_ELIMIT, name, "more than the limit of %zu bytes", max);
    }
    *data = buf;
    *len = used;
    return FM_OK;
}
