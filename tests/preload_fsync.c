/* preload_fsync.c: a test's fault injector, loaded into fmnist with
 * LD_PRELOAD: the first fsync (the first save's flush) raises the signal
 * numbered $PRELOAD_FSYNC_SIGNAL before flushing, as a signal arriving in
 * the middle of a save would (test_faults). Later calls only flush. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd)
{
    static int raised;
    int (*real)(int);
    *(void **)&real = dlsym(RTLD_NEXT, "fsync"); /* POSIX's way to a function */
    const char *sig = getenv("PRELOAD_FSYNC_SIGNAL");
    if (!raised && sig && *sig) {
        raised = 1;
        raise(atoi(sig));
    }
    return real ? real(fd) : -1;
}
