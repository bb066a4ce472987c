/* fileio.c: atomic replacement and bounded whole-file reads. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
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

/* The temporary file being written, for file_remove_temporary: set before
 * the file is created and cleared after it is renamed, so a signal handler
 * in between finds its name. */
static char tmp_path[PATH_MAX + 16];
static volatile sig_atomic_t tmp_live;

void file_remove_temporary(void)
{
    if (tmp_live) {
        unlink(tmp_path);
        tmp_live = 0;
    }
}

const char *file_kind(unsigned mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISLNK(mode)) return "a symlink";
    return "a special file";
}

/* What the first bytes of a file say it is; NULL when nothing fmnist knows. */
static const char *sniff(const uint8_t *p, size_t n)
{
    static const struct { const char *sig; size_t n; const char *what; } kinds[] = {
        {"\x89PNG\r\n\x1a\n", 8, "a PNG image"},
        {"FMNISTMD", 8, "an fmnist model"},
        {"\x1f\x8b", 2, "gzip data"},
        {"\0\0\x08\x01", 4, "an IDX label file"},
        {"\0\0\x08\x03", 4, "an IDX image file"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (n >= kinds[i].n && memcmp(p, kinds[i].sig, kinds[i].n) == 0)
            return kinds[i].what;
    /* safetensors: the JSON header's length (little-endian, 8 bytes; under
     * 2^48 here), then the header. */
    if (n >= 9 && p[6] == 0 && p[7] == 0 && p[8] == '{')
        return "a safetensors file";
    return NULL;
}

/* An existing non-empty file is replaced only by the same kind of file:
 * its first bytes (up to 8) must be those of the new data, or both must
 * be of one kind sniff knows (two safetensors files begin with their
 * headers' lengths). head: the new data's first head_len bytes. */
static int check_kind(const char *name, const char *path, const uint8_t *head, size_t head_len,
                      fm_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return FM_OK; /* unreadable: the write will say why, or succeed */
    uint8_t old[16];
    ssize_t n;
    do
        n = read(fd, old, sizeof old);
    while (n < 0 && errno == EINTR);
    close(fd);
    size_t k = head_len < 8 ? head_len : 8;
    if (n <= 0 || ((size_t)n >= k && memcmp(old, head, k) == 0))
        return FM_OK;
    const char *is = sniff(old, (size_t)n), *want = sniff(head, head_len);
    if (is && want && strcmp(is, want) == 0)
        return FM_OK;
    return fm_fail(e, FM_EIO, name, "is %s, not %s: not replacing it",
                   is ? is : "another kind of file", want ? want : "the kind being written");
}

/* What file_write_atomic checks before it writes: *path the file to
 * replace (name, or through a symlink what it points to, in resolved),
 * *exists and its stat in *st. */
static int check_target(const char *name, const uint8_t *head, size_t head_len,
                        char resolved[PATH_MAX], const char **path, struct stat *st, int *exists,
                        fm_err *e)
{
    *path = name;
    if (lstat(name, st) == 0 && S_ISLNK(st->st_mode)) {
        if (!realpath(name, resolved)) {
            int err = errno;
            /* /dev/stdout into a pipe: a link to what has no path */
            if (stat(name, st) == 0 && !S_ISREG(st->st_mode))
                return fm_fail(e, FM_EIO, name, "is %s, not a regular file: not replacing it",
                               file_kind(st->st_mode));
            return fm_fail(e, FM_EIO, name, "cannot follow the symlink: %s", strerror(err));
        }
        *path = resolved;
    }
    *exists = stat(*path, st) == 0;
    if (*exists && !S_ISREG(st->st_mode))
        return fm_fail(e, FM_EIO, name, "is %s, not a regular file: not replacing it",
                       file_kind(st->st_mode));
    return *exists ? check_kind(name, *path, head, head_len, e) : FM_OK;
}

int file_check_replace(const char *name, const void *head, size_t head_len, fm_err *e)
{
    char resolved[PATH_MAX], dir[PATH_MAX];
    const char *path;
    struct stat st;
    size_t n = strlen(name);
    if (n && name[n - 1] == '/')
        return fm_fail(e, FM_EIO, name, "names a folder, not a file");
    int exists, rc = check_target(name, head, head_len, resolved, &path, &st, &exists, e);
    if (rc)
        return rc;
    /* The temporary is made in the file's folder, by this process's
     * effective user; the name must fit that folder's file system. */
    snprintf(dir, sizeof dir, "%s", path);
    const char *folder = dirname(dir);
    if (faccessat(AT_FDCWD, folder, W_OK | X_OK, AT_EACCESS) != 0)
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(errno));
    const char *slash = strrchr(path, '/');
    size_t base = strlen(slash ? slash + 1 : path);
    long max = pathconf(folder, _PC_NAME_MAX);
    if (max > 0 && base > (size_t)max)
        return fm_fail(e, FM_EIO, name, "cannot write: the name is %zu bytes long, and %ld is "
                       "the most this folder takes", base, max);
    return FM_OK;
}

/* Creates the temporary next to path, with the permission bits of the file
 * it replaces (or 0666 less the umask). Returns its descriptor, or -1.
 * PATH.tmp-XXXXXX, or when that name is too long for the folder's file
 * system, PATH's name cut short before .tmp-XXXXXX (mkstemp makes it
 * unique all the same). */
static int create_temporary(const char *path, const struct stat *old)
{
    static const char suffix[] = ".tmp-XXXXXX";
    const size_t ns = sizeof suffix - 1;
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash + 1 - path) : 0, keep = strlen(path) - dir;
    int n = dir ? snprintf(tmp_path, sizeof tmp_path, "%.*s", (int)dir, path)
                : snprintf(tmp_path, sizeof tmp_path, ".");
    long max = n > 0 && (size_t)n < sizeof tmp_path ? pathconf(tmp_path, _PC_NAME_MAX) : -1;
    if (max > (long)ns && keep + ns > (size_t)max)
        keep = (size_t)max - ns;
    n = snprintf(tmp_path, sizeof tmp_path, "%.*s%s", (int)(dir + keep), path, suffix);
    if (n < 0 || (size_t)n >= sizeof tmp_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    tmp_live = 1;
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        tmp_live = 0;
        return -1;
    }
    mode_t mode;
    if (old) {
        mode = old->st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    if (fchmod(fd, mode) != 0) {
        int err = errno;
        close(fd);
        file_remove_temporary();
        errno = err;
        return -1;
    }
    return fd;
}

int file_write_atomic(const char *name, const void *data, size_t len, fm_err *e)
{
    /* Through a symlink, replace what it points to, not the link. */
    char resolved[PATH_MAX];
    struct stat st;
    const char *path;
    int exists, rc = check_target(name, data, len, resolved, &path, &st, &exists, e);
    if (rc)
        return rc;
    int fd = create_temporary(path, exists ? &st : NULL);
    if (fd < 0)
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(errno));
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        file_remove_temporary();
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(err));
    }
    if (close(fd) != 0) {
        int err = errno;
        file_remove_temporary();
        return fm_fail(e, FM_EIO, name, "cannot write: %s", strerror(err));
    }
    if (rename(tmp_path, path) != 0) {
        int err = errno;
        file_remove_temporary();
        return fm_fail(e, FM_EIO, name, "cannot replace: %s", strerror(err));
    }
    tmp_live = 0;
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

int file_open_regular(const char *path, int not_regular, int *fd, uint64_t *size, fm_err *e)
{
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0)
        return fm_fail(e, errno == ENOENT ? FM_ENOTFOUND : FM_EIO, path, "cannot open: %s",
                       strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0) {
        int err = errno;
        close(f);
        return fm_fail(e, FM_EIO, path, "cannot stat: %s", strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return fm_fail(e, not_regular, path, "is %s, not a regular file", file_kind(st.st_mode));
    }
    /* Regular files never block; reads need no O_NONBLOCK. */
    fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
    *fd = f;
    *size = (uint64_t)st.st_size;
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
            return fm_fail(e, FM_EIO, name, "is %s, not a regular file", file_kind(st.st_mode));
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
