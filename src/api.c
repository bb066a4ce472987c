/* api.c: libfmnist's public API (fmnist.h), over the program's modules. */
#include "fmnist.h"

#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"
#include "image.h"
#include "kernels.h"
#include "meta.h"
#include "mlp.h"
#include "model_file.h"
#include "picture.h"
#include "prep.h"
#include "version.h"

struct fmnist_model {
    mlp net;
    char *meta;
    const kernel_impl *k;
};

struct fmnist_work {
    mlp_work w;
    mlp shape; /* the network it was made for (no parameters) */
};

/* fm_err into the caller's fmnist_error; returns the code. */
static int fail(fmnist_error *err, const fm_err *e, int code)
{
    if (err) {
        err->code = code;
        if (e->file[0])
            snprintf(err->message, sizeof err->message, "%s: %s", e->file, e->msg);
        else
            snprintf(err->message, sizeof err->message, "%s", e->msg);
    }
    return code;
}

static int fail_msg(fmnist_error *err, int code, const char *msg)
{
    fm_err e;
    fm_fail(&e, code, NULL, "%s", msg);
    return fail(err, &e, code);
}

const char *fmnist_version(void)
{
    return FMNIST_VERSION;
}

const char *fmnist_strerror(int code)
{
    return fm_status_str(code);
}

const char *fmnist_class_name(int label)
{
    return label >= 0 && label < FMNIST_CLASSES ? fmnist_class_names[label] : NULL;
}

/* A decoded network and its metadata into a new model, after checking it
 * is fmnist's. */
static int adopt(mlp *net, char *meta, const char *name, fmnist_model **out, fmnist_error *err)
{
    fm_err e;
    char shape[128];
    mlp_shape_text(net, shape, sizeof shape);
    fmnist_model *m = malloc(sizeof *m);
    int rc = !m ? fm_fail(&e, FM_ENOMEM, name, "out of memory")
             : !mlp_is_fmnist(net)
                 ? fm_fail(&e, FM_EFORMAT, name, "a %s network; fmnist uses " MLP_FMNIST_SHAPES,
                           shape)
                 : FM_OK;
    if (rc) {
        free(m);
        mlp_free(net);
        free(meta);
        return fail(err, &e, rc);
    }
    m->net = *net;
    m->meta = meta;
    m->k = kernel_find(NULL);
    *out = m;
    return FMNIST_OK;
}

int fmnist_model_load(const char *path, fmnist_model **out, fmnist_error *err)
{
    if (!path || !out)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_model_load: a NULL argument");
    mlp net;
    char *meta;
    fm_err e;
    int rc = model_load_fmnist(path, &net, &meta, NULL, NULL, &e);
    return rc ? fail(err, &e, rc) : adopt(&net, meta, path, out, err);
}

int fmnist_model_load_buffer(const void *buf, size_t len, fmnist_model **out, fmnist_error *err)
{
    if (!buf || !out)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_model_load_buffer: a NULL argument");
    mlp net;
    char *meta;
    fm_err e;
    int rc = model_decode(buf, len, "<buffer>", &net, &meta, NULL, NULL, &e);
    return rc ? fail(err, &e, rc) : adopt(&net, meta, "<buffer>", out, err);
}

void fmnist_model_free(fmnist_model *m)
{
    if (!m)
        return;
    mlp_free(&m->net);
    free(m->meta);
    free(m);
}

int fmnist_model_meta(const fmnist_model *m, const char *key, char *out, size_t cap)
{
    return m && key && (out || !cap) ? meta_get(m->meta, key, out, cap) : 0;
}

const char *fmnist_model_meta_text(const fmnist_model *m)
{
    return m ? m->meta : NULL;
}

int fmnist_work_new(const fmnist_model *m, fmnist_work **out, fmnist_error *err)
{
    if (!m || !out)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_work_new: a NULL argument");
    fm_err e;
    fmnist_work *w = malloc(sizeof *w);
    if (!w)
        return fail_msg(err, FMNIST_ENOMEM, "out of memory");
    int rc = mlp_work_create(&w->w, &m->net, 1, 0, &e);
    if (rc) {
        free(w);
        return fail(err, &e, rc);
    }
    w->shape = m->net;
    w->shape.params = NULL;
    *out = w;
    return FMNIST_OK;
}

void fmnist_work_free(fmnist_work *w)
{
    if (!w)
        return;
    mlp_work_free(&w->w);
    free(w);
}

/* A work buffer is made for one network's shape: another's arrays are
 * too small (a CNN's read past its end) or laid out otherwise. */
static int check_work(const fmnist_model *m, const fmnist_work *w, const char *fn,
                      fmnist_error *err)
{
    if (!w || mlp_same_shape(&w->shape, &m->net))
        return FMNIST_OK;
    char msg[200];
    snprintf(msg, sizeof msg, "%s: the work buffer was made for another network than the "
             "model's (make one with fmnist_work_new for this model)", fn);
    return fail_msg(err, FMNIST_EINVAL, msg);
}

/* Every classification runs in the default floating-point environment
 * (rounding to nearest, no flush-to-zero), whatever the caller's, which
 * is restored after: the same bits as the fmnist program's. */
static void fp_enter(fenv_t *caller)
{
    fegetenv(caller);
    fesetenv(FE_DFL_ENV);
}

static int fp_caller(const fenv_t *caller, int rc)
{
    fesetenv(caller);
    return rc;
}

static int classify_28x28(const fmnist_model *m, fmnist_work *w,
                          const unsigned char pixels[FMNIST_SIDE * FMNIST_SIDE],
                          float probs[FMNIST_CLASSES], fmnist_error *err)
{
    fmnist_work *own = NULL;
    int rc;
    if (!w && (rc = fmnist_work_new(m, &own, err)))
        return rc;
    mlp_work *mw = w ? &w->w : &own->w;
    mlp_gather(&m->net, mw, NULL, m->k, pixels, NULL, NULL, 1);
    mlp_forward(&m->net, mw, NULL, m->k);
    const float *lp = mw->actT[m->net.nlayers];
    float p[FMNIST_CLASSES];
    rc = FMNIST_OK;
    for (int c = 0; c < FMNIST_CLASSES; c++) {
        p[c] = (float)exp(lp[c]);
        if (!isfinite(lp[c]) && !(isinf(lp[c]) && lp[c] < 0))
            rc = FMNIST_ENUMERIC;
    }
    fmnist_work_free(own);
    if (rc)
        return fail_msg(err, rc, "the model's output is not a number");
    memcpy(probs, p, sizeof p);
    return FMNIST_OK;
}

int fmnist_classify_28x28(const fmnist_model *m, fmnist_work *w,
                          const unsigned char pixels[FMNIST_SIDE * FMNIST_SIDE],
                          float probs[FMNIST_CLASSES], fmnist_error *err)
{
    if (!m || !pixels || !probs)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_classify: a NULL argument");
    int rc = check_work(m, w, "fmnist_classify_28x28", err);
    if (rc)
        return rc;
    fenv_t env;
    fp_enter(&env);
    return fp_caller(&env, classify_28x28(m, w, pixels, probs, err));
}

/* A decoded picture, prepared and classified; img is freed. */
static int classify_image(const fmnist_model *m, fmnist_work *w, image *img, const char *name,
                          float probs[FMNIST_CLASSES], fmnist_error *err)
{
    unsigned char in[FMNIST_SIDE * FMNIST_SIDE];
    fm_err e;
    int rc = image_prepare(img, IMAGE_INVERT_AUTO, in, NULL, &e);
    image_free(img);
    if (rc)
        return fail(err, &e, fm_in_file(&e, rc, name));
    return classify_28x28(m, w, in, probs, err);
}

int fmnist_classify_pixels(const fmnist_model *m, fmnist_work *w, const unsigned char *pixels,
                           int width, int height, int channels, float probs[FMNIST_CLASSES],
                           fmnist_error *err)
{
    if (!m || !pixels || !probs)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_classify_pixels: a NULL argument");
    if (width < 1 || height < 1 || channels < 1 || channels > 4 ||
        (double)width * height > IMAGE_MAX_PIXELS)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_classify_pixels: a size or channel count "
                                            "out of range");
    int rc = check_work(m, w, "fmnist_classify_pixels", err);
    if (rc)
        return rc;
    image img = {width, height, malloc((size_t)width * height * 4)};
    if (!img.rgba)
        return fail_msg(err, FMNIST_ENOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)width * height; i++) {
        const unsigned char *s = pixels + i * (size_t)channels;
        unsigned char *d = img.rgba + 4 * i;
        int color = channels >= 3;
        d[0] = s[0];
        d[1] = color ? s[1] : s[0];
        d[2] = color ? s[2] : s[0];
        d[3] = channels == 2 ? s[1] : channels == 4 ? s[3] : 255;
    }
    fenv_t env;
    fp_enter(&env);
    return fp_caller(&env, classify_image(m, w, &img, "<pixels>", probs, err));
}

int fmnist_classify_file(const fmnist_model *m, fmnist_work *w, const char *path,
                         float probs[FMNIST_CLASSES], fmnist_error *err)
{
    if (!m || !path || !probs)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_classify_file: a NULL argument");
    int rc = check_work(m, w, "fmnist_classify_file", err);
    if (rc)
        return rc;
    image img;
    fm_err e;
    fenv_t env;
    fp_enter(&env);
    if ((rc = picture_read(path, &img, &e)))
        return fp_caller(&env, fail(err, &e, rc));
    return fp_caller(&env, classify_image(m, w, &img, path, probs, err));
}

int fmnist_classify_buffer(const fmnist_model *m, fmnist_work *w, const void *buf, size_t len,
                           float probs[FMNIST_CLASSES], fmnist_error *err)
{
    if (!m || !buf || !probs)
        return fail_msg(err, FMNIST_EINVAL, "fmnist_classify_buffer: a NULL argument");
    int rc = check_work(m, w, "fmnist_classify_buffer", err);
    if (rc)
        return rc;
    image img;
    fm_err e;
    fenv_t env;
    fp_enter(&env);
    if ((rc = picture_decode(buf, len, "<buffer>", &img, &e)))
        return fp_caller(&env, fail(err, &e, rc));
    return fp_caller(&env, classify_image(m, w, &img, "<buffer>", probs, err));
}

int fmnist_top(const float probs[FMNIST_CLASSES], int k, int *labels)
{
    if (!probs || !labels || k < 1 || k > FMNIST_CLASSES)
        return 0;
    int order[FMNIST_CLASSES];
    for (int c = 0; c < FMNIST_CLASSES; c++)
        order[c] = c;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < FMNIST_CLASSES; j++)
            if (probs[order[j]] > probs[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    memcpy(labels, order, sizeof(int) * (size_t)k);
    return k;
}
