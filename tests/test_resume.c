/* test_resume.c: nothing is lost. Interrupted training resumes to the same
 * bits as an uninterrupted run; kill -9 during saves never leaves a broken
 * model file; a full disk, a read-only folder or a diverging run leave the
 * previous model file intact. */
#include "testutil.h"

#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include "model_file.h"

static char *T;
static char ref[4200]; /* an uninterrupted 3-epoch run on the sample */

#define TRAIN "train --data data/sample --epochs 3 --seed 9 --quiet"

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    snprintf(ref, sizeof ref, "%s/ref.model", T);
    return tu_fmnist(NULL, NULL, TRAIN " --model %s", ref);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

static void test_stop_and_resume_same_bits(void **state)
{
    (void)state;
    /* 32 steps an epoch: mid-epoch, at the end of an epoch, the last step
     * but one, and twice in one run. */
    const long points[] = {1, 17, 32, 33, 63, 95};
    char m[4200], ck[4300];
    snprintf(m, sizeof m, "%s/r.model", T);
    snprintf(ck, sizeof ck, "%s.ckpt", m);
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        char *out, *err;
        unlink(m);
        char cmd[12288];
        snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=%ld %s " TRAIN " --model %s", points[i],
                 tu_bin(), m);
        int rc = tu_run(cmd, &out, &err);
        assert_int_equal(rc, 130);
        assert_non_null(strstr(err, "interrupted: stopped"));
        assert_non_null(strstr(err, "--resume"));
        assert_true(tu_exists(ck));
        assert_false(tu_exists(m));
        free(out), free(err);
        /* Resume, interrupted once more at a later step, then to the end. */
        snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=5 %s train --resume --data data/sample --quiet --model %s",
                 tu_bin(), m);
        rc = tu_run(cmd, NULL, NULL);
        assert_true(rc == 130 || rc == 0); /* 0 when fewer than 5 steps were left */
        if (rc == 130) {
            assert_int_equal(tu_fmnist(NULL, &err, "train --resume --data data/sample --quiet --model %s", m), 0);
            free(err);
        }
        if (!tu_same_file(m, ref))
            fail_msg("stopped after step %ld and resumed: the model differs", points[i]);
        assert_false(tu_exists(ck)); /* used up */
    }
}

/* Every option on, with each network. */
static void test_resume_with_every_option(void **state)
{
    (void)state;
    for (int net = 0; net < 2; net++) {
        char opts[1024], a[4200], b[4200], cmd[12288];
        snprintf(opts, sizeof opts,
                 "train --data data/sample --epochs 4 --seed 3 --quiet --dropout 0.2 "
                 "--weight-decay 0.05 --schedule cosine --warmup 1 --label-smoothing 0.1 "
                 "--ema 0.99 --val 300 --keep best --patience 3 --augment default --net %s",
                 net ? "cnn" : "mlp");
        snprintf(a, sizeof a, "%s/opt-ref.model", T);
        snprintf(b, sizeof b, "%s/opt.model", T);
        unlink(a), unlink(b);
        assert_int_equal(tu_fmnist(NULL, NULL, "%s --model %s", opts, a), 0);
        snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=40 %s %s --model %s", tu_bin(), opts,
                 b);
        assert_int_equal(tu_run(cmd, NULL, NULL), 130);
        char *err;
        assert_int_equal(
            tu_fmnist(NULL, &err, "train --resume --data data/sample --quiet --model %s", b), 0);
        free(err);
        if (!tu_same_file(a, b))
            fail_msg("with every option on (--net %s), the resumed run's model differs",
                     net ? "cnn" : "mlp");
    }
}

/* Removes every ,"seconds":... up to the object's end: timings vary. */
static void strip_timings(char *s)
{
    char *p;
    while ((p = strstr(s, ",\"seconds\":"))) {
        char *end = strchr(p, '}');
        assert_non_null(end);
        memmove(p, end, strlen(end) + 1);
    }
}

/* Early stopping across an interruption: the epoch reports (the running
 * loss and accuracy of the epoch cut in two) and the epochs without
 * progress carried by the checkpoint, so that patience stops at the same
 * epoch and the same file is saved. Stopped mid-epoch 6 (24 steps an
 * epoch), one epoch after the last best. */
static void test_resume_reports_and_patience(void **state)
{
    (void)state;
    const char *opts = "train --data data/sample --json --quiet --epochs 8 --seed 9 --val 500 "
                       "--keep best --patience 2 --lr 0.01";
    char a[4200], b[4200], cmd[12288];
    snprintf(a, sizeof a, "%s/pat-ref.model", T);
    snprintf(b, sizeof b, "%s/pat.model", T);
    char *ref_out, *out1, *out2;
    assert_int_equal(tu_fmnist(&ref_out, NULL, "%s --model %s", opts, a), 0);
    snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=130 %s %s --model %s", tu_bin(), opts, b);
    assert_int_equal(tu_run(cmd, &out1, NULL), 130);
    assert_int_equal(tu_fmnist(&out2, NULL, "train --resume --json --data data/sample --quiet --model %s", b), 0);
    strip_timings(ref_out);
    strip_timings(out1);
    strip_timings(out2);
    size_t n1 = strlen(out1);
    out1 = realloc(out1, n1 + strlen(out2) + 1);
    strcpy(out1 + n1, out2);
    assert_string_equal(out1, ref_out);
    assert_non_null(strstr(ref_out, "{\"format\":1,\"epoch\":6,"));
    assert_null(strstr(ref_out, "{\"format\":1,\"epoch\":7,"));
    if (!tu_same_file(a, b))
        fail_msg("stopped in epoch 6 and resumed: the model file differs");
    free(ref_out), free(out1), free(out2);
}

static void test_sigterm_during_training(void **state)
{
    (void)state;
    char m[4200];
    snprintf(m, sizeof m, "%s/t.model", T);
    /* A longer run, terminated by a real signal after a moment. */
    char cmd[12288];
    snprintf(cmd, sizeof cmd,
             "%s train --data data/sample --epochs 400 --seed 9 --quiet --model %s & pid=$!; "
             "sleep 0.3; kill -TERM $pid; wait $pid",
             tu_bin(), m);
    char *err;
    int rc = tu_run(cmd, NULL, &err);
    assert_int_equal(rc, 143);
    assert_non_null(strstr(err, "terminated"));
    free(err);
    /* Resuming with a different --lr is refused; --epochs may change. */
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --lr 0.1 --data data/sample --model %s", m), 2);
    assert_non_null(strstr(err, "t.model.ckpt: was made with lr=0.003, not lr=0.1; --resume "
                                "continues with the checkpoint's options\n"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --dropout 0.5 --data data/sample "
                                           "--model %s", m), 2);
    assert_non_null(strstr(err, "was made with dropout at its default, not dropout=0.5; "));
    free(err);
    /* An option given again as it was, and one not given (--seed 9 then):
     * the same run, not refused. On a copy of the checkpoint, as finishing
     * the run removes it. */
    char m2[4200], c1[4300], c2[4300];
    snprintf(m2, sizeof m2, "%s/t2.model", T);
    snprintf(c1, sizeof c1, "%s.ckpt", m);
    snprintf(c2, sizeof c2, "%s.ckpt", m2);
    size_t n = 0;
    uint8_t *ck = tu_read(c1, &n);
    assert_non_null(ck);
    tu_write(c2, ck, n);
    free(ck);
    int again = tu_fmnist(NULL, &err, "train --resume --lr 0.003 --epochs 3 --data data/sample "
                                      "--quiet --model %s", m2);
    assert_true(again == 0 || strstr(err, "already") != NULL);
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --epochs 3 --data data/sample --quiet --model %s", m) == 0 ||
                         strstr(err, "already") != NULL,
                     1);
    free(err);
    /* No checkpoint to resume. */
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --data data/sample --model %s/none.model", T), 1);
    assert_non_null(strstr(err, "none.model.ckpt: cannot open"));
    free(err);
}

/* A child that saves two alternating models to path as fast as it can. */
static pid_t start_saver(const char *path, mlp *a, mlp *b)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (unsigned i = 0;; i++)
            model_save(path, i % 2 ? a : b, i % 2 ? "v=a\n" : "v=b\n", NULL, 0, NULL);
    }
    return pid;
}

static void test_kill9_during_saves(void **state)
{
    (void)state;
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/k.model", T);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mlp a, b;
    assert_int_equal(mlp_create(&a, 4, mlp_fmnist_widths, NULL), FM_OK);
    assert_int_equal(mlp_create(&b, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 1);
    mlp_init_params(&a, &r);
    mlp_init_params(&b, &r);
    assert_int_equal(model_save(path, &a, "v=a\n", NULL, 0, NULL), FM_OK);
    struct timespec ts = {0, 0};
    int tmp_seen = 0;
    for (int i = 0; i < 25; i++) {
        pid_t pid = start_saver(path, &a, &b);
        assert_true(pid > 0);
        ts.tv_nsec = 3000000 + 1700000 * (i % 7); /* 3..13 ms: anywhere in a save */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        /* Always a whole model, one of the two. */
        mlp back;
        char *meta;
        fm_err e;
        if (model_load(path, &back, &meta, NULL, NULL, &e))
            fail_msg("after kill -9 #%d: %s", i, e.msg);
        mlp *want = strcmp(meta, "v=a\n") == 0 ? &a : &b;
        assert_memory_equal(back.params, want->params, a.nparams * sizeof(float));
        free(meta);
        mlp_free(&back);
        tmp_seen = tu_temporaries(T);
    }
    printf("# 25 kills during saves: the model file was whole every time; %d stray temporaries\n",
           tmp_seen);
    /* Only kill -9 leaves a temporary (each save has its own, so two
     * processes never share one); a successful save adds none. */
    assert_int_equal(model_save(path, &a, "v=a\n", NULL, 0, NULL), FM_OK);
    assert_int_equal(tu_temporaries(T), tmp_seen);
    assert_false(tu_exists(tmp));
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.tmp-*", T);
    assert_int_equal(system(cmd), 0);
    mlp_free(&a);
    mlp_free(&b);
}

static void test_disk_full_keeps_previous(void **state)
{
    (void)state;
    char m[4200], keep[4300];
    snprintf(m, sizeof m, "%s/full.model", T);
    snprintf(keep, sizeof keep, "%s/full.copy", T);
    assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --quiet --model %s", m), 0);
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "cp %s %s", m, keep);
    assert_int_equal(system(cmd), 0);
    /* A file size limit makes writes fail as a full disk does (EFBIG). */
    snprintf(cmd, sizeof cmd,
             "trap '' XFSZ; ulimit -f 64; %s train --data data/sample --epochs 1 --seed 2 --quiet --model %s",
             tu_bin(), m);
    char *err;
    assert_int_equal(tu_run(cmd, NULL, &err), 1);
    assert_non_null(strstr(err, "full.model: cannot write: File too large"));
    free(err);
    assert_true(tu_same_file(m, keep));
    assert_int_equal(tu_temporaries(T), 0);
    /* And a device is never replaced. */
    assert_int_equal(tu_fmnist(NULL, &err, "train --data data/sample --epochs 1 --quiet --model /dev/full"), 1);
    assert_non_null(strstr(err, "/dev/full: is a device, not a regular file"));
    free(err);
}

static void test_read_only_folder_keeps_previous(void **state)
{
    (void)state;
    if (geteuid() != 0 || system("unshare -m true 2>/dev/null") != 0) {
        printf("# needs root and unshare to mount a read-only folder\n");
        skip();
    }
    char dir[1024], cmd[16384];
    snprintf(dir, sizeof dir, "%s/ro", T);
    mkdir(dir, 0755);
    assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --quiet --model %s/m.model", dir), 0);
    snprintf(cmd, sizeof cmd,
             "cp %s/m.model %s/copy && unshare -m sh -c 'mount --bind %s %s && mount -o remount,bind,ro %s && "
             "%s train --data data/sample --epochs 1 --seed 4 --quiet --model %s/m.model'",
             dir, T, dir, dir, dir, tu_bin(), dir);
    char *err;
    assert_int_equal(tu_run(cmd, NULL, &err), 1);
    assert_non_null(strstr(err, "m.model: cannot write: Read-only file system"));
    free(err);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/m.model", dir);
    snprintf(b, sizeof b, "%s/copy", T);
    assert_true(tu_same_file(a, b));
}

static void test_divergence_keeps_previous(void **state)
{
    (void)state;
    char m[4200], keep[4300], cmd[9000];
    snprintf(m, sizeof m, "%s/d.model", T);
    snprintf(keep, sizeof keep, "%s/d.copy", T);
    assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --quiet --model %s", m), 0);
    snprintf(cmd, sizeof cmd, "cp %s %s", m, keep);
    assert_int_equal(system(cmd), 0);
    char *err;
    assert_int_equal(tu_fmnist(NULL, &err, "train --data data/sample --epochs 2 --lr 1000 --model %s", m), 1);
    assert_non_null(strstr(err, "training diverged: the loss"));
    assert_non_null(strstr(err, "not written; the previous file"));
    free(err);
    assert_true(tu_same_file(m, keep));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_and_resume_same_bits),
        cmocka_unit_test(test_resume_with_every_option),
        cmocka_unit_test(test_resume_reports_and_patience),
        cmocka_unit_test(test_sigterm_during_training),
        cmocka_unit_test(test_kill9_during_saves),
        cmocka_unit_test(test_disk_full_keeps_previous),
        cmocka_unit_test(test_read_only_folder_keeps_previous),
        cmocka_unit_test(test_divergence_keeps_previous),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
