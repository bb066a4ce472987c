/* test_faults.c: the faults an outside attack found (issue 11, section 2),
 * one test each, numbered as the issue numbers them. Each failed before
 * its fix. */
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "convert.h"
#include "fileio.h"
#include "image.h"
#include "model_file.h"
#include "train.h"

static char *T;
static char M[4200]; /* a model trained for one epoch on the sample */

#define DATA "--data data/sample"

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    snprintf(M, sizeof M, "%s/m.model", T);
    return tu_fmnist(NULL, NULL, "train " DATA " --epochs 1 --quiet --model %s", M);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

/* path = T/name */
static void in_t(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "%s/%s", T, name);
}

static void copy_file(const char *from, const char *to)
{
    size_t n = 0;
    uint8_t *b = tu_read(from, &n);
    assert_non_null(b);
    tu_write(to, b, n);
    free(b);
}

/* Interrupts a sample run after `step` steps: leaves model.ckpt. */
static void interrupted_run(const char *model, const char *opts, int step)
{
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=%d %s train " DATA " --quiet %s --model %s",
             step, tu_bin(), opts, model);
    assert_int_equal(tu_run(cmd, NULL, NULL), 130);
}

/* 1. A checkpoint with a valid CRC and an all-zero generator state made
 * --resume loop for ever (and ignore SIGINT); out-of-range metadata was
 * accepted. */
static void test_1_invalid_checkpoint_state_refused(void **state)
{
    (void)state;
    char m[4200], ck[4300], *err;
    in_t(m, sizeof m, "z.model");
    snprintf(ck, sizeof ck, "%s.ckpt", m);
    interrupted_run(m, "--epochs 2", 3);
    mlp net;
    char *meta;
    float *blocks;
    int nb;
    assert_int_equal(model_load(ck, &net, &meta, &blocks, &nb, NULL), FM_OK);
    char *rng = strstr(meta, "state_rng=");
    assert_non_null(rng);
    memset(rng + 10, '0', 64);
    assert_int_equal(model_save(ck, &net, meta, blocks, nb, NULL), FM_OK);
    free(meta), free(blocks), mlp_free(&net);
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "timeout -k 2 20 %s train --resume " DATA " --quiet --model %s", tu_bin(),
             m);
    assert_int_equal(tu_run(cmd, NULL, &err), 1); /* 124: it never ended */
    assert_non_null(strstr(err, "bad state_rng: all zeros"));
    free(err);
    /* Metadata the command line would refuse is refused. */
    static const char *bad[] = {
        "epochs=2.9\nbatch_size=64\nlr=0.003\nseed=1\n",
        "epochs=5\nbatch_size=64\nlr=0.003\nseed=-5\n",
        "epochs=5\nbatch_size=64\nlr=0.003\nseed=1\ndropout=0.99\n",
        "epochs=5\nbatch_size=0x40\nlr=0.003\nseed=1\n",
    };
    train_config c;
    fm_err e;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(train_config_from_meta(&c, bad[i], &e), FM_EFORMAT);
}

/* A child saving one model to path n times; exits with its failures. */
static pid_t saver(const char *path, const mlp *m, int n)
{
    pid_t pid = fork();
    if (pid == 0) {
        int failed = 0;
        for (int i = 0; i < n; i++)
            failed += model_save(path, m, "v=1\n", NULL, 0, NULL) != FM_OK;
        _exit(failed > 100 ? 100 : failed);
    }
    return pid;
}

/* 2. Two saves to the same file shared FILE.tmp: one could fail, or
 * succeed with its file gone. */
static void test_2_concurrent_saves_each_succeed(void **state)
{
    (void)state;
    char path[4200];
    in_t(path, sizeof path, "c.model");
    mlp a;
    assert_int_equal(mlp_create(&a, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 5);
    mlp_init_params(&a, &r);
    pid_t p1 = saver(path, &a, 60), p2 = saver(path, &a, 60);
    int s1, s2;
    waitpid(p1, &s1, 0);
    waitpid(p2, &s2, 0);
    assert_true(WIFEXITED(s1) && WIFEXITED(s2));
    if (WEXITSTATUS(s1) || WEXITSTATUS(s2))
        fail_msg("concurrent saves failed %d and %d times", WEXITSTATUS(s1), WEXITSTATUS(s2));
    assert_int_equal(tu_temporaries(T), 0);
    mlp back;
    assert_int_equal(model_load(path, &back, NULL, NULL, NULL, NULL), FM_OK);
    mlp_free(&back);
    mlp_free(&a);
}

/* 3. A failed write to standard output exited 0. */
static void test_3_stdout_write_errors(void **state)
{
    (void)state;
    char png[4200], cmd[12288], *err;
    in_t(png, sizeof png, "w.png");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    const char *args[] = {"eval " DATA " --model %s", "eval " DATA " --json --model %s",
                          "classify --json --model %s %s", "export " DATA " --index 1 -o %s.png",
                          "--help", "--version", "train --help",
                          "train " DATA " --epochs 1 --json --model %s.2"};
    for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
        char a[8400];
        snprintf(a, sizeof a, args[i], M, png);
        for (int closed = 0; closed < 2; closed++) {
            snprintf(cmd, sizeof cmd, "%s %s %s", tu_bin(), a, closed ? ">&-" : ">/dev/full");
            int rc = tu_run(cmd, NULL, &err);
            if (rc != 1 || !strstr(err, "write error"))
                fail_msg("'%s': status %d, stderr '%s'", cmd, rc, err);
            free(err);
        }
    }
}

/* Writes a copy of the model at M with parameter i set to x (CRC valid). */
static void model_with(const char *path, size_t i, float x)
{
    size_t n = 0;
    uint8_t *b = tu_read(M, &n);
    char *meta;
    mlp net;
    assert_int_equal(model_decode(b, n, "m", &net, &meta, NULL, NULL, NULL), FM_OK);
    size_t at = n - 4 - 4 * net.nparams + 4 * i;
    memcpy(b + at, &x, 4);
    uint32_t c = (uint32_t)crc32(0, b, (uInt)(n - 4));
    for (int k = 0; k < 4; k++)
        b[n - 4 + k] = (uint8_t)(c >> (8 * k));
    tu_write(path, b, n);
    free(b), free(meta), mlp_free(&net);
}

/* 4. NaN or infinite parameters were loaded ("loss":nan) and saved. */
static void test_4_non_finite_parameters_refused(void **state)
{
    (void)state;
    char bad[4200], png[4200], *out, *err;
    in_t(bad, sizeof bad, "nan.model");
    in_t(png, sizeof png, "n.png");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    model_with(bad, 7, NAN);
    assert_int_equal(tu_fmnist(&out, &err, "eval " DATA " --json --model %s", bad), 1);
    assert_non_null(strstr(err, "corrupt: parameter 7 is NaN"));
    assert_string_equal(out, "");
    free(out), free(err);
    model_with(bad, 242761, INFINITY);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s %s", bad, png), 1);
    assert_non_null(strstr(err, "parameter 242761 is infinite"));
    free(out), free(err);
    mlp net;
    assert_int_equal(model_load(M, &net, NULL, NULL, NULL, NULL), FM_OK);
    net.params[3] = NAN;
    fm_err e;
    assert_int_equal(model_save(bad, &net, NULL, NULL, 0, &e), FM_ENUMERIC);
    assert_non_null(strstr(e.msg, "parameter 3 is NaN"));
    mlp_free(&net);
}

/* 5. Divergence on the last step was saved with status 0. */
static void test_5_divergence_on_last_step(void **state)
{
    (void)state;
    char m[4200], *err;
    in_t(m, sizeof m, "div.model");
    copy_file(M, m);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --batch-size 2000 --lr 1e6 "
                                           "--quiet --model %s", m), 1);
    assert_non_null(strstr(err, "training diverged: after the last step"));
    assert_non_null(strstr(err, "not written"));
    free(err);
    assert_true(tu_same_file(m, M));
}

/* 6. Outputs overwrote inputs, or files of another kind. */
static void test_6_outputs_never_overwrite_inputs(void **state)
{
    (void)state;
    char m[4200], d[4200], one[4200], two[4200], pat[4200], keep[4200], *err;
    in_t(m, sizeof m, "in.model");
    in_t(d, sizeof d, "data");
    in_t(one, sizeof one, "1.png");
    in_t(two, sizeof two, "2.png");
    in_t(pat, sizeof pat, "%d.png");
    in_t(keep, sizeof keep, "keep");
    copy_file(M, m);
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp data/sample/* %s/", d, d);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", one), 0);
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 1 -o %s", two), 0);
    copy_file(one, keep);
    assert_int_equal(tu_fmnist(NULL, &err, "eval " DATA " --errors %s --model %s", m, m), 1);
    assert_non_null(strstr(err, "is the same file as the input"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "classify --show %s --model %s %s", m, m, one), 1);
    assert_non_null(strstr(err, "is the same file as the input"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "classify --show %s --model %s %s %s", pat, m, one,
                               two), 1);
    assert_non_null(strstr(err, "1.png: is the same file as the input"));
    free(err);
    assert_true(tu_same_file(m, M));
    assert_true(tu_same_file(one, keep));
    /* Data files: as inputs, and as files of another kind. */
    snprintf(cmd, sizeof cmd, "ls %s/t10k-labels-idx1-ubyte* | head -1", d);
    char *lab;
    assert_int_equal(tu_run(cmd, &lab, NULL), 0);
    lab[strcspn(lab, "\n")] = 0;
    copy_file(lab, keep);
    assert_int_equal(tu_fmnist(NULL, &err, "export --data %s --index 0 -o %s", d, lab), 1);
    assert_non_null(strstr(err, "is the same file as the input"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train --data %s --epochs 1 --quiet --model %s", d,
                               lab), 1);
    assert_non_null(strstr(err, "is the same file as the input"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "export " DATA " --index 0 -o %s", lab), 1);
    assert_non_null(strstr(err, "not a PNG image: not replacing it"));
    free(err);
    assert_true(tu_same_file(lab, keep));
    free(lab);
    assert_int_equal(tu_fmnist(NULL, &err, "export " DATA " --index 0 -o %s", m), 1);
    assert_non_null(strstr(err, "is an fmnist model, not a PNG image: not replacing it"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --quiet --model %s", one), 1);
    assert_non_null(strstr(err, "is a PNG image, not an fmnist model: not replacing it"));
    free(err);
    assert_true(tu_same_file(m, M));
}

/* 7. A stale checkpoint could bring an older run back over a newer model. */
static void test_7_stale_checkpoint(void **state)
{
    (void)state;
    char q[4200], ck[4300], *err;
    in_t(q, sizeof q, "q.model");
    snprintf(ck, sizeof ck, "%s.ckpt", q);
    interrupted_run(q, "--epochs 2", 3);
    assert_true(tu_exists(ck));
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --model %s", q), 0);
    assert_non_null(strstr(err, "removed"));
    assert_non_null(strstr(err, "q.model.ckpt"));
    free(err);
    assert_false(tu_exists(ck));
    interrupted_run(q, "--epochs 2", 3); /* the same, quietly: no note */
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --quiet --model %s", q), 0);
    assert_string_equal(err, "");
    free(err);
    assert_false(tu_exists(ck));
    /* A checkpoint older than the model (left by an older fmnist, say). */
    interrupted_run(q, "--epochs 2", 3);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, ck, old, 0), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume " DATA " --quiet --model %s", q), 1);
    assert_non_null(strstr(err, "older than"));
    free(err);
    assert_true(tu_exists(ck));
}

/* The binary as an absolute path, for commands run in another folder. */
static const char *abs_bin(void)
{
    static char b[8200];
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    if (tu_bin()[0] == '/')
        snprintf(b, sizeof b, "%s", tu_bin());
    else
        snprintf(b, sizeof b, "%s/%s", cwd, tu_bin());
    return b;
}

/* 8. Names reached the terminal raw; JSON was not valid UTF-8. */
static void test_8_names_shown_safely(void **state)
{
    (void)state;
    char dir[4200], cwd[4096], cmd[12288], *out, *err;
    in_t(dir, sizeof dir, "names");
    mkdir(dir, 0755);
    assert_non_null(getcwd(cwd, sizeof cwd));
    /* ESC [31m, a newline forging a result line, an invalid UTF-8 byte. */
    const char *name = "\"$(printf 'a\033[31mb\nx.png: Trouser (100.0%%)\377.png')\"";
    snprintf(cmd, sizeof cmd, "cd %s && %s export --data %s/data/sample --index 0 -o %s", dir,
             abs_bin(), cwd, name);
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    assert_null(strchr(out, '\033'));
    assert_non_null(strstr(out, "a?[31mb?x.png: Trouser (100.0%)"));
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1); /* one line */
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "cd %s && %s classify --json --model %s %s", dir, abs_bin(), M, name);
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    assert_non_null(strstr(out, "{\"format\":1,\"file\":\"a\\u001b[31mb\\u000ax.png: Trouser (100.0%)\\ufffd.png\""));
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "cd %s && %s classify --model %s %s", dir, abs_bin(), M, name);
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    assert_null(strchr(out, '\033'));
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
    free(out), free(err);
    /* The model:, wrote and saved lines. */
    snprintf(cmd, sizeof cmd, "cp %s \"%s/$(printf 'e\\033[2Jm')\"", M, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_fmnist(&out, &err, "eval " DATA " --model \"%s/$(printf 'e\\033[2Jm')\" "
                                           "--confusion \"%s/$(printf 'c\\033.png')\"", dir, dir),
                     0);
    assert_null(strchr(out, '\033'));
    assert_non_null(strstr(out, "e?[2Jm (784"));
    assert_non_null(strstr(out, "c?.png: the confusion matrix"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "train " DATA " --epochs 1 --model \"%s/$(printf 's\\033]0;t\\a')\"",
                               dir), 0);
    assert_null(strchr(err, '\033'));
    assert_non_null(strstr(err, "s?]0;t?"));
    free(out), free(err);
}

static void on_xfsz(int sig)
{
    (void)sig;
    file_remove_temporary();
    _exit(9);
}

/* 9. A signal during a save left FILE.tmp; ulimit -f killed train with
 * SIGXFSZ, status 153, no message. */
static void test_9_temporaries_removed(void **state)
{
    (void)state;
    char m[4200], cmd[12288], *err;
    in_t(m, sizeof m, "f.model");
    snprintf(cmd, sizeof cmd, "ulimit -f 64; %s train " DATA " --epochs 1 --quiet --model %s",
             tu_bin(), m);
    assert_int_equal(tu_run(cmd, NULL, &err), 1);
    assert_non_null(strstr(err, "f.model: cannot write: File too large"));
    free(err);
    assert_int_equal(tu_temporaries(T), 0);
    /* A signal arriving in the middle of a save (SIGXFSZ here, raised by
     * the write itself): a handler that ends the process removes it. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, on_xfsz);
        struct rlimit rl = {65536, 65536};
        setrlimit(RLIMIT_FSIZE, &rl);
        mlp net;
        if (model_load(M, &net, NULL, NULL, NULL, NULL))
            _exit(1);
        model_save(m, &net, NULL, NULL, 0, NULL);
        _exit(2); /* not reached: the write raised SIGXFSZ */
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 9);
    assert_int_equal(tu_temporaries(T), 0);
}

/* 10. A --model file was read whole before its magic was checked. */
static void test_10_model_header_judged_first(void **state)
{
    (void)state;
    char big[4200], *err;
    in_t(big, sizeof big, "big.model");
    size_t n = 0;
    uint8_t *b = tu_read(M, &n);
    tu_write(big, b, 200);
    free(b);
    assert_int_equal(truncate(big, (off_t)1 << 31), 0); /* sparse: 2 GiB */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tu_fmnist(NULL, &err, "eval " DATA " --model %s", big), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(strstr(err, "its header implies"));
    free(err);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (s > 1.0)
        fail_msg("a 2 GiB model file took %.1f s to refuse", s);
    tu_write(big, "PNG?", 4);
    assert_int_equal(truncate(big, (off_t)1 << 31), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "eval " DATA " --model %s", big), 1);
    assert_non_null(strstr(err, "not an fmnist model file"));
    free(err);
    unlink(big);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* 11. A side over 1,000,000 pixels was "Invalid IHDR data". */
static void test_11_png_side_limit(void **state)
{
    (void)state;
    uint8_t png[45] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    be32(png + 16, 1000001);
    be32(png + 20, 10);
    png[24] = 8; /* 8-bit gray */
    be32(png + 29, (uint32_t)crc32(0, png + 12, 17));
    memcpy(png + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    char p[4200], *err;
    in_t(p, sizeof p, "wide.png");
    tu_write(p, png, sizeof png);
    assert_int_equal(tu_fmnist(NULL, &err, "classify --model %s %s", M, p), 1);
    assert_non_null(strstr(err, "a side over 1000000 pixels is over the limit"));
    free(err);
}

/* 12. A FIFO, a directory or a symlink loop was "not found" (install it). */
static void test_12_data_file_kinds(void **state)
{
    (void)state;
    char d[4200], cmd[12288], *err;
    in_t(d, sizeof d, "kinds");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cd %s && mkfifo t10k-images-idx3-ubyte && "
                              "ln -s loop loop && ln -s loop t10k-labels-idx1-ubyte", d, d);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "export --data %s --index 0", d), 1);
    assert_non_null(strstr(err, "t10k-images-idx3-ubyte: is a FIFO, not a regular file"));
    assert_null(strstr(err, "apt-get"));
    free(err);
    snprintf(cmd, sizeof cmd, "cd %s && rm t10k-images-idx3-ubyte && mkdir t10k-images-idx3-ubyte", d);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "export --data %s --index 0", d), 1);
    assert_non_null(strstr(err, "is a directory, not a regular file"));
    free(err);
    snprintf(cmd, sizeof cmd, "rmdir %s/t10k-images-idx3-ubyte && cp data/sample/t10k-images* %s/",
             d, d);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "export --data %s --index 0", d), 1);
    assert_non_null(strstr(err, "Too many levels of symbolic links"));
    free(err);
}

/* 13. --lr 1e-310 was accepted but its checkpoint could not be resumed. */
static void test_13_options_and_metadata_agree(void **state)
{
    (void)state;
    char m[4200], *err;
    in_t(m, sizeof m, "tiny-lr.model");
    interrupted_run(m, "--epochs 1 --lr 1e-310", 3);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume " DATA " --quiet --model %s", m), 0);
    free(err);
    /* What one accepts, the other does: each option at its bounds. */
    static const struct { const char *key, *ok, *bad; } v[] = {
        {"epochs", "100000", "100001"}, {"batch_size", "60000", "1.0"}, {"lr", "1e6", "0"},
        {"dropout", "0.95", "0.96"}, {"weight_decay", "10", "-1"}, {"label_smoothing", "0.5", "0.6"},
        {"ema", "0.99999", "1"}, {"warmup", "0", "-1"}, {"val", "59999", "60000"},
        {"patience", "7", "7.5"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        double x;
        assert_int_equal(train_option_value(v[i].key, v[i].ok, &x, NULL), FM_OK);
        assert_int_equal(train_option_value(v[i].key, v[i].bad, &x, NULL), FM_EINVAL);
    }
}

/* 14. --dropout 0.00, --weight-decay 0e0, --label-smoothing .0 were refused. */
static void test_14_every_zero_is_zero(void **state)
{
    (void)state;
    char *argv[] = {"fmnist", "train", "--dropout", "0.00", "--weight-decay", "0e0",
                    "--label-smoothing", ".0", "--ema", "-0", NULL};
    cli_opts o;
    fm_err e;
    assert_int_equal(cli_parse(10, argv, &o, &e), FM_OK);
    assert_true(o.train.dropout == 0 && o.train.weight_decay == 0 &&
                o.train.label_smoothing == 0 && o.train.ema == 0 && !signbit(o.train.ema));
    assert_int_equal(tu_fmnist(NULL, NULL, "train --dropout 0.00 --weight-decay 0e0 "
                                           "--label-smoothing .0 --help"), 0);
}

/* 15. Under a process limit every command failed to start its threads. */
static void test_15_fewer_threads(void **state)
{
    (void)state;
    if (geteuid() != 0 || system("command -v setpriv >/dev/null && command -v bash >/dev/null") != 0) {
        printf("# skipped: needs root, setpriv and bash to run under ulimit -u as another user\n");
        skip();
    }
    char png[4200], cmd[32768], *out, *err;
    in_t(png, sizeof png, "t.png");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    /* The other user must reach the binary and the files: a folder on the way
     * may be private (a clone under /root, a mktemp -d copy). */
    snprintf(cmd, sizeof cmd, "chmod 755 %s && chmod 644 %s %s && setpriv --reuid=65534 "
             "--regid=65534 --clear-groups bash -c '(exec %s --version) >/dev/null && test -r %s && "
             "test -r %s'", T, M, png, tu_bin(), M, png);
    if (tu_run(cmd, NULL, NULL) != 0) {
        printf("# skipped: user 65534 cannot reach %s or the test's files\n", tu_bin());
        skip();
    }
    /* (LeakSanitizer, in the SAN=1 build, needs a thread of its own at exit.) */
    snprintf(cmd, sizeof cmd, "chmod 755 %s && chmod 644 %s %s && setpriv --reuid=65534 "
             "--regid=65534 --clear-groups bash -c 'ulimit -u 1; ASAN_OPTIONS=detect_leaks=0 "
             "exec %s classify --threads 2 --model %s %s %s'", T, M, png, tu_bin(), M, png, png);
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    assert_non_null(strstr(err, "could start only 1 of 2 threads"));
    assert_non_null(strstr(out, "t.png: "));
    free(out), free(err);
}

/* 16. Replacing a model made a 0600 file 0644. */
static void test_16_permission_bits_kept(void **state)
{
    (void)state;
    char m[4200], p[4200];
    in_t(m, sizeof m, "perm.model");
    in_t(p, sizeof p, "perm.png");
    copy_file(M, m);
    assert_int_equal(chmod(m, 0600), 0);
    assert_int_equal(tu_fmnist(NULL, NULL, "train " DATA " --epochs 1 --seed 3 --quiet --model %s",
                               m), 0);
    struct stat st;
    assert_int_equal(stat(m, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_false(tu_same_file(m, M)); /* replaced */
    /* A new file: 0666 less the umask. */
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "umask 027; %s export " DATA " --index 0 -o %s", tu_bin(), p);
    assert_int_equal(tu_run(cmd, NULL, NULL), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
}

/* Also: a blank 28x28 picture is warned about as a larger one is; an
 * empty argument is named. */
static void test_blank_and_empty_argument(void **state)
{
    (void)state;
    uint8_t white[28 * 28];
    memset(white, 255, sizeof white);
    uint8_t *buf;
    size_t n;
    assert_int_equal(image_encode_gray_png(white, 28, 28, &buf, &n, NULL), FM_OK);
    char p[4200], *out, *err;
    in_t(p, sizeof p, "white.png");
    tu_write(p, buf, n);
    free(buf);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s %s", M, p), 0);
    assert_non_null(strstr(err, "nothing stands out from the background"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s ''", M), 1);
    assert_non_null(strstr(err, "fmnist: '': an empty argument"));
    free(out), free(err);
}

/* ---- A second outside review (2026-11-30) ---- */

/* train refused its output only when it came to save: every epoch run,
 * then thrown away. Now before the first step (nothing on stdout). */
static void test_r2_train_refuses_its_output_first(void **state)
{
    (void)state;
    char png[4200], nowhere[4200], *out, *err;
    in_t(png, sizeof png, "r2.png");
    in_t(nowhere, sizeof nowhere, "nowhere/x.model");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    assert_int_equal(tu_fmnist(&out, &err, "train " DATA " --epochs 1 --model %s", png), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "r2.png: is a PNG image, not an fmnist model: not replacing it"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "train " DATA " --epochs 1 --model %s", nowhere), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "nowhere/x.model: cannot write: No such file or directory"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "train " DATA " --epochs 1 --model %s", T), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "is a directory, not a regular file: not replacing it"));
    free(out), free(err);
}

/* An output named "-" was checked as if it were standard input, so
 * --show - replaced an input picture that is a file named "-". */
static void test_r2_output_named_dash(void **state)
{
    (void)state;
    char dash[4200], keep[4200], cmd[12288], *err;
    in_t(dash, sizeof dash, "-");
    in_t(keep, sizeof keep, "dash.keep");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", keep), 0);
    copy_file(keep, dash);
    char bin[PATH_MAX];
    assert_non_null(realpath(tu_bin(), bin));
    snprintf(cmd, sizeof cmd, "cd %s && %s classify --model %s --show - ./- < /dev/null", T, bin,
             M);
    assert_int_equal(tu_run(cmd, NULL, &err), 1);
    assert_non_null(strstr(err, "-: is the same file as the input ./-"));
    free(err);
    assert_true(tu_same_file(dash, keep));
}

/* --errors e.png --confusion ./e.png, e.png not yet there: the second
 * picture replaced the first. One file under two spellings is refused. */
static void test_r2_one_new_file_two_spellings(void **state)
{
    (void)state;
    char e1[4200], e2[4200], *err;
    in_t(e1, sizeof e1, "e.png");
    in_t(e2, sizeof e2, "./e.png");
    assert_int_equal(tu_fmnist(NULL, &err, "eval " DATA " --model %s --errors %s --confusion %s",
                               M, e1, e2), 2);
    assert_non_null(strstr(err, "e.png: given to both --errors and --confusion"));
    free(err);
    assert_false(tu_exists(e1));
}

/* A safetensors file could not replace another whose header is of another
 * length (its first 8 bytes): the two are of one kind. */
static void test_r2_safetensors_over_safetensors(void **state)
{
    (void)state;
    char d[4200], st[4200], *err;
    in_t(d, sizeof d, "dropout.model");
    in_t(st, sizeof st, "x.safetensors");
    assert_int_equal(
        tu_fmnist(NULL, NULL, "train " DATA " --epochs 1 --dropout 0.1 --quiet --model %s", d), 0);
    assert_int_equal(tu_fmnist(NULL, NULL, "convert --model %s -o %s", M, st), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", d, st), 0);
    free(err);
    /* and still not over another kind */
    char png[4200];
    in_t(png, sizeof png, "png.safetensors");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", d, png), 1);
    assert_non_null(strstr(err, "is a PNG image, not a safetensors file: not replacing it"));
    free(err);
}

/* --resume took any training set (the HINT to resume named no --data, so
 * following it trained the rest on another); a resumed --preset run lost
 * its preset, and --preset given again was not compared. The checkpoint
 * now records both. */
/* dir: the sample with its training split raw, byte `at` of the training
 * images (pixels: 16 + 784 i + p) or labels (8 + i) file changed. */
static void changed_sample(const char *dir, const char *file, size_t at)
{
    char cmd[20000], path[4300];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp data/sample/t10k-* %s/ && zcat data/sample/train-images-idx3-ubyte.gz "
             "> %s/train-images-idx3-ubyte && zcat data/sample/train-labels-idx1-ubyte.gz > "
             "%s/train-labels-idx1-ubyte",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t n = 0;
    uint8_t *b = tu_read(path, &n);
    assert_true(at < n);
    b[at] = (uint8_t)((b[at] + 1) % 10); /* a label stays 0..9 */
    tu_write(path, b, n);
    free(b);
}

static void test_r2_resume_is_the_same_run(void **state)
{
    (void)state;
    char a[4200], b[4200], lab[4200], pix[4200], cmd[20000], *err;
    in_t(a, sizeof a, "whole.model");
    in_t(b, sizeof b, "resumed.model");
    in_t(lab, sizeof lab, "onelabel");
    in_t(pix, sizeof pix, "onepixel");
    changed_sample(lab, "train-labels-idx1-ubyte", 8 + 1234);
    changed_sample(pix, "train-images-idx3-ubyte", 16 + 784 * 1500 + 400);
    const char *opts = "--preset best --epochs 2 --val 100";
    assert_int_equal(tu_fmnist(NULL, NULL, "train " DATA " --quiet %s --model %s", opts, a), 0);
    snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=5 %s train " DATA " %s --model %s",
             tu_bin(), opts, b);
    assert_int_equal(tu_run(cmd, NULL, &err), 130);
    assert_non_null(strstr(err, "HINT: continue with: fmnist train --resume --data data/sample --model"));
    free(err);
    /* One label, or one pixel, of 2,000 images changed: another set. */
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --data %s --model %s", lab, b), 2);
    assert_non_null(strstr(err, ": was made on another training set (2000 images, crc32 77277e38; "
                                "this one: 2000 images, crc32 b7a79722); give the --data it was made with\n"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume --data %s --model %s", pix, b), 2);
    assert_non_null(strstr(err, ": was made on another training set (2000 images, crc32 77277e38; "
                                "this one: 2000 images, crc32 30c01af6); give the --data it was made with\n"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume " DATA " --preset robust --model %s", b), 2);
    assert_non_null(strstr(err, "was made with --preset best; --resume continues with that"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, NULL, "train --resume " DATA " --quiet --model %s", b), 0);
    assert_true(tu_same_file(a, b));
}

/* A sparse file declaring a 65536-8191 network (2 GB, a hole) was read
 * whole, 9 s and 2 GB, before its network was refused; and convert took
 * any network from a model file, writing ONNX and safetensors files that
 * say Fashion-MNIST. Now fmnist's networks only, judged from the header
 * (safetensors input was already held to fmnist's tensors). */
static void test_r2_other_networks_refused_unread(void **state)
{
    (void)state;
    char big[4200], small[4200], st[4200], out[4200], *err;
    in_t(big, sizeof big, "huge.model");
    in_t(small, sizeof small, "small.model");
    in_t(st, sizeof st, "small.safetensors");
    in_t(out, sizeof out, "out.onnx");
    uint8_t h[32] = "FMNISTMD";
    const uint32_t fields[] = {1, 0, 1, 65536, 8191, 0}; /* version, flags, L, widths, M */
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 4; k++)
            h[8 + 4 * i + k] = (uint8_t)(fields[i] >> (8 * k));
    tu_write(big, h, sizeof h);
    off_t P = (off_t)65536 * 8191 + 8191;
    assert_int_equal(truncate(big, 32 + 4 * P + 4), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tu_fmnist(NULL, &err, "eval " DATA " --model %s", big), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(strstr(err, "huge.model: a 65536-8191 network; fmnist uses 784-256-128-64-10"));
    free(err);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (s > 1.0)
        fail_msg("a 2 GB model of another network took %.1f s to refuse", s);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", big, out), 1);
    assert_non_null(strstr(err, "a 65536-8191 network"));
    free(err);
    /* A small network of another shape, as a model and as safetensors. */
    mlp m;
    fm_err e;
    assert_int_equal(mlp_create(&m, 1, (const int[]){2, 3}, &e), FM_OK);
    assert_int_equal(model_save(small, &m, "", NULL, 0, &e), FM_OK);
    assert_int_equal(convert_save(st, &m, "", &e), FM_OK);
    mlp_free(&m);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", small, out), 1);
    assert_non_null(strstr(err, "small.model: a 2-3 network; fmnist uses"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", st, out), 1);
    assert_non_null(strstr(err, "fc1.weight: shape [3, 2]; the network needs [256, 784]"));
    free(err);
    assert_false(tu_exists(out));
}

/* With only the training files in ./data, train took the test files from
 * the next place of the search (/usr/share/datasets/...): the four files
 * come from one folder. */
static void test_r2_splits_from_one_folder(void **state)
{
    (void)state;
    char dir[4200], bin[PATH_MAX], cmd[20000], *err;
    in_t(dir, sizeof dir, "onlytrain");
    assert_non_null(realpath(tu_bin(), bin));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/data && cp data/sample/train-* %s/data/", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && env -u FMNIST_DATA %s train --epochs 1 --quiet --model m.model", dir, bin);
    assert_int_equal(tu_run(cmd, NULL, &err), 1);
    assert_string_equal(err, "fmnist: ./data: has the training split but not the test split "
                             "(t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or .gz)\n"
                             "HINT: train takes all four files from one folder: put the test "
                             "files beside the others, or pass --data DIR\n");
    free(err);
}

/* A checkpoint whose Adam second moment is negative (a square's sum)
 * resumed into "training diverged ... is the learning rate too high?";
 * it is a damaged checkpoint, and said so. */
static void test_r2_negative_second_moment(void **state)
{
    (void)state;
    char q[4200], ck[4300], *err;
    in_t(q, sizeof q, "neg.model");
    snprintf(ck, sizeof ck, "%s.ckpt", q);
    interrupted_run(q, "--epochs 2", 3);
    mlp net;
    char *meta;
    float *blocks;
    int nb;
    fm_err e;
    assert_int_equal(model_load(ck, &net, &meta, &blocks, &nb, &e), FM_OK);
    blocks[net.nparams + 7] = -1.0f;
    assert_int_equal(model_save(ck, &net, meta, blocks, nb, &e), FM_OK);
    mlp_free(&net);
    free(meta);
    free(blocks);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --resume --model %s", q), 1);
    assert_non_null(strstr(err, "neg.model.ckpt: corrupt: Adam's second moment 7 is negative"));
    free(err);
}

/* Messages that misled: help with two names said the first was not a
 * command; -o .onnx said the name must end in .onnx; --show /dev/stdout
 * into a pipe said the symlink could not be followed. */
static void test_r2_messages_say_what_is_wrong(void **state)
{
    (void)state;
    char png[4200], onnx[4200], cmd[12288], *err;
    in_t(png, sizeof png, "msg.png");
    in_t(onnx, sizeof onnx, ".onnx");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    assert_int_equal(tu_fmnist(NULL, &err, "help train extra"), 2);
    assert_non_null(strstr(err, "fmnist: extra: unexpected argument after 'help train'\n"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", M, onnx), 2);
    assert_non_null(strstr(err, "the name must end in .onnx, .safetensors or .model, after a name\n"));
    free(err);
    char longname[4300];
    in_t(longname, sizeof longname,
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onnx.bak");
    assert_int_equal(tu_fmnist(NULL, &err, "convert --model %s -o %s", M, longname), 2);
    assert_non_null(strstr(err, "the name must end in .onnx, .safetensors or .model\n"));
    free(err);
    snprintf(cmd, sizeof cmd, "%s classify --model %s --show /dev/stdout %s | cat", tu_bin(), M,
             png);
    tu_run(cmd, NULL, &err);
    assert_non_null(strstr(err, "fmnist: /dev/stdout: is a FIFO, not a regular file: not replacing it\n"));
    free(err);
}

/* A checkpoint from before checkpoints recorded their training set and
 * preset: --resume --preset best on one made with it is not refused as
 * "made without --preset". And a --model ending in '/' names a folder: it
 * passed the check before training (its folder "." is writable), and
 * the save failed after it. */
static void test_r2_old_checkpoint_and_folder_names(void **state)
{
    (void)state;
    char q[4200], ck[4300], dir[4300], *err;
    in_t(q, sizeof q, "old.model");
    snprintf(ck, sizeof ck, "%s.ckpt", q);
    interrupted_run(q, "--preset best --epochs 2 --val 100", 3);
    mlp net;
    char *meta, kept[4096] = "";
    float *blocks;
    int nb;
    fm_err e;
    assert_int_equal(model_load(ck, &net, &meta, &blocks, &nb, &e), FM_OK);
    for (char *line = strtok(meta, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "train_set=", 10) && strncmp(line, "preset=", 7))
            snprintf(kept + strlen(kept), sizeof kept - strlen(kept), "%s\n", line);
    assert_int_equal(model_save(ck, &net, kept, blocks, nb, &e), FM_OK);
    mlp_free(&net);
    free(meta);
    free(blocks);
    assert_int_equal(tu_fmnist(NULL, &err, "train --resume " DATA " --preset best --quiet --model %s",
                               q), 0);
    free(err);
    snprintf(dir, sizeof dir, "%s/nothere/", T);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --model %s", dir), 1);
    assert_non_null(strstr(err, "nothere/: names a folder, not a file\n"));
    free(err);
}

/* The hint printed at an interruption is a command to paste: names with
 * a space or a quote come out quoted for the shell, and the hint, run as
 * printed, finishes the run. */
static void test_resume_hint_pastes(void **state)
{
    (void)state;
    char data[4200], model[4200], bin[4200], real[4096], cmd[20000], want[20000], *err;
    in_t(data, sizeof data, "my data");
    in_t(model, sizeof model, "it's a.model");
    in_t(bin, sizeof bin, "bin");
    assert_non_null(realpath("data/sample", real));
    assert_int_equal(symlink(real, data), 0);
    assert_int_equal(mkdir(bin, 0755), 0);
    assert_non_null(realpath(tu_bin(), real));
    in_t(bin, sizeof bin, "bin/fmnist");
    assert_int_equal(symlink(real, bin), 0);
    snprintf(cmd, sizeof cmd,
             "FMNIST_STOP_AFTER_STEP=3 %s train --data \"%s\" --epochs 1 --model \"%s\"", bin,
             data, model);
    assert_int_equal(tu_run(cmd, NULL, &err), 130);
    snprintf(want, sizeof want,
             "HINT: continue with: fmnist train --resume --data '%s/my data' --model '%s/it'\\''s "
             "a.model'\n", T, T);
    char *hint = strstr(err, "HINT: continue with: ");
    assert_non_null(hint);
    assert_string_equal(hint, want);
    in_t(bin, sizeof bin, "bin");
    snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" %.*s", bin,
             (int)(strlen(hint) - 1 - strlen("HINT: continue with: ")),
             hint + strlen("HINT: continue with: "));
    free(err);
    assert_int_equal(tu_run(cmd, NULL, &err), 0);
    free(err);
    struct stat st;
    assert_int_equal(stat(model, &st), 0);
}

/* eval of a checkpoint says what it is: its "epochs" are the run's goal,
 * and it showed "epochs 2" for a run stopped after 5 steps. */
static void test_checkpoint_evaluated_as_such(void **state)
{
    (void)state;
    char model[4200], cmd[9000], *out;
    in_t(model, sizeof model, "part.model");
    snprintf(cmd, sizeof cmd,
             "FMNIST_STOP_AFTER_STEP=5 %s train " DATA " --epochs 2 --quiet --model %s", tu_bin(),
             model);
    assert_int_equal(tu_run(cmd, NULL, NULL), 130);
    assert_int_equal(tu_fmnist(&out, NULL, "eval " DATA " --model %s.ckpt", model), 0);
    snprintf(cmd, sizeof cmd, "model:    %s.ckpt (784-256-128-64-10; a checkpoint after step 5, "
             "0 of 2 epochs done, lr 0.003, seed 1)\n", model);
    assert_true(strncmp(out, cmd, strlen(cmd)) == 0);
    free(out);
}

/* ---- the third outside attack (2026-11-30) ---- */

/* A finished run removed any file named MODEL.ckpt, whatever it held. */
static void test_r3_checkpoint_name_not_ours(void **state)
{
    (void)state;
    char q[4200], ck[4300], keep[4200], *err;
    in_t(q, sizeof q, "notes.model");
    snprintf(ck, sizeof ck, "%s.ckpt", q);
    in_t(keep, sizeof keep, "notes.keep");
    tu_write(ck, (const uint8_t *)"my notes\n", 9);
    copy_file(ck, keep);
    /* Refused before training: an interrupt could not save there. */
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --quiet --model %s", q), 1);
    assert_non_null(strstr(err, "notes.model.ckpt: is another kind of file, not an fmnist model"));
    free(err);
    assert_false(tu_exists(q));
    assert_true(tu_same_file(ck, keep));
    /* An empty one is written over by an interrupt, but not removed as a
     * checkpoint by a finished run. */
    tu_write(ck, (const uint8_t *)"", 0);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --model %s", q), 0);
    assert_non_null(strstr(err, "notes.model.ckpt: not an fmnist checkpoint; left as it is"));
    assert_null(strstr(err, "removed"));
    free(err);
    assert_true(tu_exists(ck));
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1 --quiet --model %s", q), 0);
    assert_string_equal(err, "");
    free(err);
    assert_true(tu_exists(ck));
}

/* Standard output appended to an input (>> INPUT) damaged it. */
static void test_r3_stdout_onto_an_input(void **state)
{
    (void)state;
    char d[4200], m[4200], png[4200], keep[4200], cmd[16384], *err;
    in_t(d, sizeof d, "appended");
    in_t(m, sizeof m, "appended.model");
    in_t(png, sizeof png, "appended.png");
    in_t(keep, sizeof keep, "appended.keep");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp data/sample/* %s/", d, d);
    assert_int_equal(system(cmd), 0);
    copy_file(M, m);
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    const char *bin = tu_bin();
    struct {
        const char *args, *input;
    } runs[] = {
        {"export --data %s --index 0 -o - >> %s", "t10k-images"},
        {"export --data %s --index 0 >> %s", "t10k-labels"},
        {"eval --data %s --model %s >> %s", "appended.model"},
        {"classify --model %s %s >> %s", "appended.model"},
        {"classify --model %s - < %s 1<> %s", "<stdin>"},
        {"convert --model %s -o %s.onnx >> %s", "appended.model"},
        {"train --data %s --epochs 1 --quiet --model %s.new >> %s", "train-labels"},
    };
    const char *files[][3] = {
        {d, NULL, "t10k-images-idx3-ubyte.gz"}, {d, NULL, "t10k-labels-idx1-ubyte.gz"},
        {d, m, NULL},                           {m, png, NULL},
        {m, png, NULL},                         {m, m, NULL},
        {d, m, "train-labels-idx1-ubyte.gz"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        char target[4300], fmt[256], args[12000];
        if (files[i][2])
            snprintf(target, sizeof target, "%s/%s", d, files[i][2]);
        else
            snprintf(target, sizeof target, "%s", i == 4 ? png : m);
        copy_file(target, keep);
        snprintf(fmt, sizeof fmt, "%%s %s", runs[i].args);
        if (files[i][1])
            snprintf(args, sizeof args, fmt, bin, files[i][0], files[i][1], target);
        else
            snprintf(args, sizeof args, fmt, bin, files[i][0], target);
        int rc = tu_run(args, NULL, &err);
        if (rc != 1 || !strstr(err, "<stdout>: is the same file as the input") ||
            !strstr(err, runs[i].input) || !tu_same_file(target, keep))
            fail_msg("%s: status %d, stderr: %s", args, rc, err);
        free(err);
    }
}

/* train | head -1: SIGPIPE ended the run and the training was lost. */
static void test_r3_train_outlives_its_reader(void **state)
{
    (void)state;
    char q[4200], cmd[9000], *err;
    in_t(q, sizeof q, "piped.model");
    snprintf(cmd, sizeof cmd, "{ %s train " DATA " --epochs 3 --quiet --model %s 2>&1; "
             "echo status $? >&2; } | true", tu_bin(), q);
    assert_int_equal(tu_run(cmd, NULL, &err), 0);
    assert_non_null(strstr(err, "status 1\n"));
    free(err);
    assert_int_equal(tu_fmnist(NULL, NULL, "eval " DATA " --quiet --model %s", q), 0);
}

/* The path of the preload_fsync.so fault injector. */
static void preload_path(char *buf, size_t cap)
{
    const char *b = getenv("FMNIST_BUILD");
    snprintf(buf, cap, "%s/tests/preload_fsync.so", b && *b ? b : "build");
}

/* A signal in the middle of the final save: the finished model was thrown
 * away (SIGTERM), or a temporary left behind (SIGUSR1). */
static void test_r3_signal_during_the_final_save(void **state)
{
    (void)state;
    char q[4200], so[4200], cmd[12288], *err;
    in_t(q, sizeof q, "saving.model");
    preload_path(so, sizeof so);
    if (!tu_exists(so))
        skip(); /* make check builds it */
    const char *env = "ASAN_OPTIONS=verify_asan_link_order=0";
    snprintf(cmd, sizeof cmd, "%s LD_PRELOAD=%s PRELOAD_FSYNC_SIGNAL=%d %s train " DATA
             " --epochs 1 --quiet --model %s", env, so, SIGTERM, tu_bin(), q);
    assert_int_equal(tu_run(cmd, NULL, &err), 128 + SIGTERM);
    assert_non_null(strstr(err, "terminated after the last step; the finished model is saved"));
    free(err);
    assert_true(tu_same_file(q, M)); /* the same run as setup's, saved whole */
    assert_int_equal(tu_temporaries(T), 0);
    /* A signal that does not stop training cleanly ends the process, but
     * takes its temporary file with it; the old model stays. */
    snprintf(cmd, sizeof cmd, "%s LD_PRELOAD=%s PRELOAD_FSYNC_SIGNAL=%d %s train " DATA
             " --epochs 2 --quiet --model %s; exit $?", env, so, SIGUSR1, tu_bin(), q);
    assert_int_equal(tu_run(cmd, NULL, NULL), 128 + SIGUSR1);
    assert_true(tu_same_file(q, M));
    assert_int_equal(tu_temporaries(T), 0);
}

/* A name too long for its checkpoint failed only after training; one too
 * long for the temporary lost the interrupt's checkpoint. */
static void test_r3_long_model_names(void **state)
{
    (void)state;
    char q[4200], name[300], cmd[12288], *err;
    long max = pathconf(T, _PC_NAME_MAX);
    if (max < 64 || max > 255)
        skip();
    /* Its checkpoint's name would be one byte too long: refused first. */
    memset(name, 'a', (size_t)max - 4);
    name[max - 4] = 0;
    in_t(q, sizeof q, name);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tu_fmnist(NULL, &err, "train " DATA " --epochs 1000 --quiet --model %s", q), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    snprintf(cmd, sizeof cmd, ".ckpt: cannot write: the name is %ld bytes long, and %ld is the "
             "most this folder takes", max + 1, max);
    assert_non_null(strstr(err, cmd));
    free(err);
    assert_false(tu_exists(q));
    assert_true((double)(t1.tv_sec - t0.tv_sec) < 10); /* not after 1000 epochs */
    /* Too long for NAME.tmp-XXXXXX, not for NAME.ckpt: saved either way. */
    memset(name, 'b', (size_t)max - 6);
    name[max - 6] = 0;
    in_t(q, sizeof q, name);
    snprintf(cmd, sizeof cmd, "FMNIST_STOP_AFTER_STEP=5 %s train " DATA " --epochs 2 --quiet "
             "--model %s", tu_bin(), q);
    assert_int_equal(tu_run(cmd, NULL, NULL), 130);
    snprintf(cmd, sizeof cmd, "%s.ckpt", q);
    assert_true(tu_exists(cmd));
    assert_int_equal(tu_fmnist(NULL, NULL, "train --resume " DATA " --quiet --model %s", q), 0);
    assert_true(tu_exists(q));
    assert_false(tu_exists(cmd));
    assert_int_equal(tu_temporaries(T), 0);
}

/* Writes a copy of the model at M with its metadata replaced by meta and
 * its CRC fixed, as a file rewritten by hand would be. */
static void model_with_meta(const char *path, const char *meta)
{
    size_t n = 0;
    uint8_t *b = tu_read(M, &n);
    const size_t at = 20 + 4 * 5; /* the MLP's metadata length */
    uint32_t old = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 |
                   (uint32_t)b[at + 3] << 24;
    size_t m = strlen(meta), len = n - old + m;
    uint8_t *c = malloc(len);
    memcpy(c, b, at);
    for (int k = 0; k < 4; k++)
        c[at + (size_t)k] = (uint8_t)(m >> (8 * k));
    memcpy(c + at + 4, meta, m);
    memcpy(c + at + 4 + m, b + at + 4 + old, n - at - 4 - old);
    uint32_t crc = (uint32_t)crc32(0, c, (uInt)(len - 4));
    for (int k = 0; k < 4; k++)
        c[len - 4 + k] = (uint8_t)(crc >> (8 * k));
    tu_write(path, c, len);
    free(b), free(c);
}

/* M7. A model file whose metadata says epochs=2.9 and seed=-5 was taken
 * by eval ("epochs 2.9, seed -5") and converted to a safetensors file
 * that convert then refused ("bad epochs: '2.9' is not an integer"): the
 * model file's reader did not check what the safetensors reader checks.
 * Both now apply one check (meta_check), so each refuses it alike, and a
 * model trained by fmnist still goes to safetensors and back unchanged. */
static void test_r3_model_metadata_checked(void **state)
{
    (void)state;
    char bad[4200], st[4200], back[4200], png[4200], want[9000], *out, *err;
    in_t(bad, sizeof bad, "meta.model");
    in_t(st, sizeof st, "meta.safetensors");
    in_t(png, sizeof png, "meta.png");
    assert_int_equal(tu_fmnist(NULL, NULL, "export " DATA " --index 0 -o %s", png), 0);
    model_with_meta(bad, "fmnist_version=0.1.0\nepochs=2.9\nbatch_size=64\nlr=0.003\nseed=-5\n");
    snprintf(want, sizeof want, "fmnist: %s: metadata epochs: '2.9' is not an integer\n", bad);
    assert_int_equal(tu_fmnist(&out, &err, "eval " DATA " --model %s", bad), 1);
    assert_string_equal(out, "");
    assert_string_equal(err, want);
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s %s", bad, png), 1);
    assert_string_equal(out, "");
    assert_string_equal(err, want);
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "convert --model %s -o %s", bad, st), 1);
    assert_string_equal(err, want);
    assert_false(tu_exists(st));
    free(out), free(err);
    model_with_meta(bad, "epochs=2\nseed=-5\n");
    snprintf(want, sizeof want,
             "fmnist: %s: metadata seed: '-5' is not a non-negative integer\n", bad);
    assert_int_equal(tu_fmnist(&out, &err, "eval " DATA " --model %s", bad), 1);
    assert_string_equal(err, want);
    free(out), free(err);
    /* A line without '=' came back from safetensors as "bare=": refused. */
    model_with_meta(bad, "epochs=2\nbare\n");
    snprintf(want, sizeof want,
             "fmnist: %s: metadata line 2 has no '=' (key=value expected)\n", bad);
    assert_int_equal(tu_fmnist(&out, &err, "convert --model %s -o %s", bad, st), 1);
    assert_string_equal(err, want);
    assert_false(tu_exists(st));
    free(out), free(err);
    /* train's own model: to safetensors and back, the same bytes. */
    in_t(back, sizeof back, "meta-back.model");
    assert_int_equal(tu_fmnist(NULL, NULL, "convert -q --model %s -o %s", M, st), 0);
    assert_int_equal(tu_fmnist(NULL, NULL, "convert -q --model %s -o %s", st, back), 0);
    assert_true(tu_same_file(M, back));
}

/* M6. Style probabilities past a sum of 1 were silently cut (outline=1 and
 * outline=1,silhouette=1 trained the same bits, recorded apart), and
 * clean=1,outline=1 trained as no augmentation: a usage error now, on the
 * command line and in a model's metadata alike. And --augment flip=-0 was
 * refused where --ema -0 is zero. */
static void test_r3_augment_draws(void **state)
{
    (void)state;
    tu_expect_usage_error("train --augment outline=0.8,silhouette=0.8",
                          "fmnist: --augment: the styles outline=0.8, silhouette=0.8 sum to 1.6: "
                          "each image takes at most one, so their probabilities must sum to at "
                          "most 1");
    tu_expect_usage_error("train --augment clean=1,outline=1",
                          "fmnist: --augment: clean=1 leaves every image as it is, so outline=1 "
                          "would never apply");
    assert_int_equal(tu_fmnist(NULL, NULL, "train --augment flip=-0,rotate=+5 --help"), 0);
    char bad[4200], want[9000], *out, *err;
    in_t(bad, sizeof bad, "styles.model");
    model_with_meta(bad, "epochs=1\nseed=1\naugment=outline=1,silhouette=1\n");
    snprintf(want, sizeof want,
             "fmnist: %s: metadata augment: the styles outline=1, silhouette=1 sum to 2: each "
             "image takes at most one, so their probabilities must sum to at most 1\n", bad);
    assert_int_equal(tu_fmnist(&out, &err, "eval " DATA " --model %s", bad), 1);
    assert_string_equal(err, want);
    free(out), free(err);
}

/* A metadata value of 1e999 went out in eval --json as a number, which a
 * JSON parser reads as infinity: only finite numbers go out as numbers. */
static void test_r3_json_numbers_finite(void **state)
{
    (void)state;
    char model[4200], *out;
    in_t(model, sizeof model, "inf.model");
    model_with_meta(model, "epochs=1\nx=1e999\ny=-1e400\nz=1e-400\nw=12\n");
    assert_int_equal(tu_fmnist(&out, NULL, "eval " DATA " --json --model %s", model), 0);
    if (!strstr(out, ",\"meta\":{\"epochs\":1,\"x\":\"1e999\",\"y\":\"-1e400\",\"z\":1e-400,"
                     "\"w\":12},"))
        fail_msg("eval --json: %s", out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1_invalid_checkpoint_state_refused),
        cmocka_unit_test(test_2_concurrent_saves_each_succeed),
        cmocka_unit_test(test_3_stdout_write_errors),
        cmocka_unit_test(test_4_non_finite_parameters_refused),
        cmocka_unit_test(test_5_divergence_on_last_step),
        cmocka_unit_test(test_6_outputs_never_overwrite_inputs),
        cmocka_unit_test(test_7_stale_checkpoint),
        cmocka_unit_test(test_8_names_shown_safely),
        cmocka_unit_test(test_9_temporaries_removed),
        cmocka_unit_test(test_10_model_header_judged_first),
        cmocka_unit_test(test_11_png_side_limit),
        cmocka_unit_test(test_12_data_file_kinds),
        cmocka_unit_test(test_13_options_and_metadata_agree),
        cmocka_unit_test(test_14_every_zero_is_zero),
        cmocka_unit_test(test_15_fewer_threads),
        cmocka_unit_test(test_16_permission_bits_kept),
        cmocka_unit_test(test_blank_and_empty_argument),
        cmocka_unit_test(test_r2_train_refuses_its_output_first),
        cmocka_unit_test(test_r2_output_named_dash),
        cmocka_unit_test(test_r2_one_new_file_two_spellings),
        cmocka_unit_test(test_r2_safetensors_over_safetensors),
        cmocka_unit_test(test_r2_resume_is_the_same_run),
        cmocka_unit_test(test_r2_other_networks_refused_unread),
        cmocka_unit_test(test_r2_splits_from_one_folder),
        cmocka_unit_test(test_r2_negative_second_moment),
        cmocka_unit_test(test_r2_messages_say_what_is_wrong),
        cmocka_unit_test(test_r2_old_checkpoint_and_folder_names),
        cmocka_unit_test(test_resume_hint_pastes),
        cmocka_unit_test(test_checkpoint_evaluated_as_such),
        cmocka_unit_test(test_r3_checkpoint_name_not_ours),
        cmocka_unit_test(test_r3_stdout_onto_an_input),
        cmocka_unit_test(test_r3_train_outlives_its_reader),
        cmocka_unit_test(test_r3_signal_during_the_final_save),
        cmocka_unit_test(test_r3_long_model_names),
        cmocka_unit_test(test_r3_model_metadata_checked),
        cmocka_unit_test(test_r3_augment_draws),
        cmocka_unit_test(test_r3_json_numbers_finite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
