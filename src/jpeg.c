/* jpeg.c: JPEG through libjpeg-turbo, with an error manager that never
 * prints or exits, and EXIF orientation. See jpeg.h for the contract. */
#include "jpeg.h"

#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "bytes.h"

/* ---- EXIF orientation ---- */

/* EXIF's integers: in the byte order its TIFF header names. */
static unsigned get16(const uint8_t *p, int be)
{
    return be ? bytes_be16(p) : bytes_le16(p);
}

static uint32_t get32(const uint8_t *p, int be)
{
    return be ? bytes_be32(p) : bytes_le32(p);
}

int image_exif_orientation(const uint8_t *seg, size_t len, const char *name, int *orientation,
                           fm_err *e)
{
    if (len < 6 || memcmp(seg, "Exif\0\0", 6) != 0) {
        *orientation = 1;
        return FM_OK;
    }
    const uint8_t *t = seg + 6; /* the TIFF header; offsets count from here */
    size_t n = len - 6;
    if (n < 8)
        return fm_fail(e, FM_EFORMAT, name, "bad EXIF: %zu byte%s, too short for a TIFF header", n,
                       fm_plural(n));
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return fm_fail(e, FM_EFORMAT, name, "bad EXIF: byte order 0x%02x%02x is neither II nor MM",
                       t[0], t[1]);
    if (get16(t + 2, be) != 42)
        return fm_fail(e, FM_EFORMAT, name, "bad EXIF: TIFF magic %u, not 42", get16(t + 2, be));
    uint32_t ifd = get32(t + 4, be);
    if (ifd < 8 || ifd > n - 2)
        return fm_fail(e, FM_EFORMAT, name,
                       "bad EXIF: IFD0 at offset %" PRIu32 ", outside its %zu bytes", ifd, n);
    unsigned count = get16(t + ifd, be);
    if (count > (n - ifd - 2) / 12)
        return fm_fail(e, FM_EFORMAT, name,
                       "bad EXIF: IFD0's %u entr%s past the end of its %zu bytes", count,
                       count == 1 ? "y runs" : "ies run", n);
    /* count <= 5461, the entries all inside the segment. */
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *ent = t + ifd + 2 + 12 * (size_t)i;
        if (get16(ent, be) != 0x0112)
            continue;
        unsigned type = get16(ent + 2, be);
        uint32_t cnt = get32(ent + 4, be);
        if (type != 3 || cnt != 1)
            return fm_fail(e, FM_EFORMAT, name,
                           "bad EXIF: orientation of type %u, count %" PRIu32
                           " (one SHORT expected)", type, cnt);
        unsigned v = get16(ent + 8, be); /* a SHORT sits in the value's first 2 bytes */
        if (v < 1 || v > 8)
            return fm_fail(e, FM_EFORMAT, name, "bad EXIF: orientation %u is not 1..8", v);
        *orientation = (int)v;
        return FM_OK;
    }
    *orientation = 1;
    return FM_OK;
}

int image_orient(const image *in, int o, image *out, fm_err *e)
{
    if (o < 1 || o > 8)
        return fm_fail(e, FM_EINVAL, NULL, "EXIF orientation %d is not 1..8", o);
    int w = in->w, h = in->h, swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint32_t *px = malloc((size_t)w * (size_t)h * 4);
    if (!px)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for %dx%d pixels", w, h);
    const uint8_t *src = in->rgba;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            /* The stored pixel that shows at (x, y) once upright. */
            int sx, sy;
            switch (o) {
            case 1: sx = x, sy = y; break;
            case 2: sx = w - 1 - x, sy = y; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sx = x, sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            default: sx = w - 1 - y, sy = x; break;
            }
            memcpy(px + (size_t)y * ow + x, src + 4 * ((size_t)sy * w + sx), 4);
        }
    out->w = ow;
    out->h = oh;
    out->rgba = (uint8_t *)px;
    return FM_OK;
}

/* ---- libjpeg, made safe ---- */

/* The error manager: libjpeg's errors and corrupt-data warnings longjmp
 * back to jpeg_guarded; nothing is printed. */
typedef struct jpeg_fault {
    struct jpeg_error_mgr pub;
    jmp_buf back;
    int warning; /* the fault was a corrupt-data warning */
    char text[JMSG_LENGTH_MAX];
} jpeg_fault;

static void on_error_exit(j_common_ptr c)
{
    jpeg_fault *f = (jpeg_fault *)c->err;
    (*c->err->format_message)(c, f->text);
    longjmp(f->back, 1);
}

static void on_emit_message(j_common_ptr c, int level)
{
    if (level >= 0)
        return; /* trace messages */
    int code = c->err->msg_code;
    /* Warnings that leave every pixel as it should be. */
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC)
        return;
    ((jpeg_fault *)c->err)->warning = 1;
    on_error_exit(c);
}

static void on_output_message(j_common_ptr c)
{
    (void)c;
}

/* One decode's state, outside the function that calls setjmp (so nothing
 * it holds is indeterminate after a longjmp). cinfo comes first: libjpeg's
 * callbacks get it and find the job from it. */
typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    jpeg_fault fault;
    struct jpeg_progress_mgr progress;
    int too_many_scans;
    const uint8_t *buf;
    size_t len;
    const char *name;
    fm_err *e;
    uint8_t *px;  /* the picture as decoded, w * h * 4 */
    uint8_t *row; /* one CMYK row */
    const uint8_t *exif; /* the first EXIF APP1 payload, in buf; NULL when none */
    size_t exif_len;
    int orientation;
} jpeg_job;

/* libjpeg calls this as it works; a scan past JPEG_MAX_SCANS ends it. */
static void on_progress(j_common_ptr c)
{
    jpeg_job *job = (jpeg_job *)(void *)c;
    if (job->cinfo.input_scan_number > JPEG_MAX_SCANS) {
        job->too_many_scans = 1;
        longjmp(job->fault.back, 1);
    }
}

/* libjpeg's fault as an fm_err. */
static int jpeg_failed(jpeg_job *job)
{
    const char *name = job->name, *text = job->fault.text;
    if (job->too_many_scans)
        return fm_fail(job->e, FM_ELIMIT, name,
                       "a JPEG of more than %d scans (fmnist reads at most %d)",
                       JPEG_MAX_SCANS, JPEG_MAX_SCANS);
    switch (job->fault.pub.msg_code) {
    case JWRN_JPEG_EOF:
        return fm_fail(job->e, FM_EFORMAT, name, "truncated JPEG (%s)", text);
    case JERR_EMPTY_IMAGE:
        return fm_fail(job->e, FM_EFORMAT, name, "bad JPEG: 0 pixels high or wide, an empty image");
    case JERR_OUT_OF_MEMORY:
        return fm_fail(job->e, FM_ENOMEM, name, "out of memory decoding the JPEG (%s)", text);
    case JERR_NO_BACKING_STORE:
        return fm_fail(job->e, FM_ELIMIT, name,
                       "the JPEG needs more memory than its size can (%s)", text);
    }
    if (job->fault.warning)
        return fm_fail(job->e, FM_EFORMAT, name, "corrupt JPEG: %s", text);
    return fm_fail(job->e, FM_EFORMAT, name, "bad JPEG: %s", text);
}

/* The size guards, from the header alone (see jpeg.h). */
static int check_size(jpeg_job *job)
{
    struct jpeg_decompress_struct *ci = &job->cinfo;
    uint64_t w = ci->image_width, h = ci->image_height;
    if (w * h > IMAGE_MAX_PIXELS)
        return fm_fail(job->e, FM_ELIMIT, job->name,
                       "%" PRIu64 "x%" PRIu64 " pixels is over the limit of %u megapixels", w, h,
                       IMAGE_MAX_PIXELS / 1000000u);
    uint64_t fewest = UINT64_MAX, coef = 0;
    for (int c = 0; c < ci->num_components; c++) {
        const jpeg_component_info *ci_c = &ci->comp_info[c];
        uint64_t bw = ci_c->width_in_blocks, bh = ci_c->height_in_blocks;
        fewest = bw * bh < fewest ? bw * bh : fewest;
        uint64_t hs = (uint64_t)ci_c->h_samp_factor, vs = (uint64_t)ci_c->v_samp_factor;
        coef += (bw + hs - 1) / hs * hs * ((bh + vs - 1) / vs * vs) * 128;
    }
    if (!ci->arith_code && fewest > (uint64_t)job->len * 8)
        return fm_fail(job->e, FM_EFORMAT, job->name,
                       "truncated JPEG: %" PRIu64 "x%" PRIu64 " pixels cannot come from %zu bytes",
                       w, h, job->len);
    if (ci->arith_code && w * h > (uint64_t)job->len * JPEG_ARITH_PIXELS_PER_BYTE)
        return fm_fail(job->e, FM_ELIMIT, job->name,
                       "an arithmetic-coded JPEG of %" PRIu64 "x%" PRIu64 " pixels in %zu bytes: "
                       "over %d pixels a byte, as only a nearly blank picture codes (fmnist's "
                       "limit)", w, h, job->len, JPEG_ARITH_PIXELS_PER_BYTE);
    uint64_t cap = coef + ((uint64_t)64 << 20);
    ci->mem->max_memory_to_use = cap < (uint64_t)LONG_MAX ? (long)cap : LONG_MAX;
    return FM_OK;
}

/* The colour spaces read, and how libjpeg is to deliver them. */
static int choose_colour(jpeg_job *job)
{
    struct jpeg_decompress_struct *ci = &job->cinfo;
    int n = ci->num_components;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        if (n == (ci->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3)) {
            ci->out_color_space = JCS_EXT_RGBA; /* alpha 255 */
            return FM_OK;
        }
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        if (n == 4) {
            ci->out_color_space = JCS_CMYK;
            return FM_OK;
        }
        break;
    default:
        break;
    }
    return fm_fail(job->e, FM_EFORMAT, job->name,
                   "a JPEG of %d colour components%s; fmnist reads gray, YCbCr, RGB, CMYK "
                   "and YCCK JPEGs", n,
                   ci->jpeg_color_space == JCS_UNKNOWN ? " in an unknown colour space" : "");
}

/* One byte of the header from libjpeg's source (which, past the end,
 * warns and gives an EOI: that warning fails the decode). */
static int next_byte(j_decompress_ptr ci, unsigned *b)
{
    struct jpeg_source_mgr *src = ci->src;
    if (src->bytes_in_buffer == 0 && !src->fill_input_buffer(ci))
        return 0;
    *b = *src->next_input_byte++;
    src->bytes_in_buffer--;
    return 1;
}

/* libjpeg calls this for each APP1 segment, at its length. The first that
 * holds EXIF is noted where it lies in the file (the source is the file's
 * bytes in memory); every segment is skipped as libjpeg skips one. Saving
 * them with jpeg_save_markers instead cost an allocation of 88 bytes a
 * segment, even an empty one, and a walk of the list for each: a file of
 * 50,000 empty APP1 segments took 9 s and 22 times its size. */
static boolean on_app1(j_decompress_ptr ci)
{
    jpeg_job *job = (jpeg_job *)(void *)ci;
    unsigned hi, lo;
    if (!next_byte(ci, &hi) || !next_byte(ci, &lo))
        return FALSE;
    long n = (long)(hi << 8 | lo) - 2;
    if (n <= 0)
        return TRUE;
    const struct jpeg_source_mgr *src = ci->src;
    if (!job->exif && n >= 6 && src->bytes_in_buffer >= (size_t)n &&
        memcmp(src->next_input_byte, "Exif\0\0", 6) == 0)
        job->exif = src->next_input_byte, job->exif_len = (size_t)n;
    ci->src->skip_input_data(ci, n);
    return TRUE;
}

/* The orientation from the first EXIF APP1 segment, 1 when none. */
static int find_orientation(jpeg_job *job)
{
    job->orientation = 1;
    if (job->exif)
        return image_exif_orientation(job->exif, job->exif_len, job->name, &job->orientation,
                                      job->e);
    return FM_OK;
}

/* Inverted (Adobe) CMYK or YCCK, or plain CMYK, to RGBA. */
static void cmyk_to_rgba(const uint8_t *cmyk, uint8_t *rgba, size_t n, int inverted)
{
    for (size_t i = 0; i < n; i++, cmyk += 4, rgba += 4) {
        unsigned c = cmyk[0], m = cmyk[1], y = cmyk[2], k = cmyk[3];
        if (!inverted)
            c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        /* Now 255 = no ink: R = (1 - C)(1 - K). */
        rgba[0] = (uint8_t)((c * k + 127) / 255);
        rgba[1] = (uint8_t)((m * k + 127) / 255);
        rgba[2] = (uint8_t)((y * k + 127) / 255);
        rgba[3] = 255;
    }
}

/* Everything libjpeg does, under its error manager. Returns FM_OK, a code
 * already in job->e, or -1 when libjpeg failed (its fault in job->fault). */
static int jpeg_guarded(jpeg_job *job)
{
    struct jpeg_decompress_struct *ci = &job->cinfo;
    if (setjmp(job->fault.back))
        return -1;
    jpeg_create_decompress(ci);
    job->progress.progress_monitor = on_progress;
    ci->progress = &job->progress;
    jpeg_mem_src(ci, job->buf, (unsigned long)job->len);
    jpeg_set_marker_processor(ci, JPEG_APP0 + 1, on_app1);
    jpeg_read_header(ci, TRUE);
    int rc;
    if ((rc = check_size(job)) || (rc = choose_colour(job)) || (rc = find_orientation(job)))
        return rc;
    jpeg_start_decompress(ci);
    size_t w = ci->output_width, h = ci->output_height;
    if (w != ci->image_width || h != ci->image_height || ci->output_components != 4)
        return fm_fail(job->e, FM_EFORMAT, job->name, "bad JPEG: libjpeg's output is not its size");
    int cmyk = ci->out_color_space == JCS_CMYK;
    job->px = malloc(w * h * 4);
    job->row = cmyk ? malloc(w * 4) : NULL;
    if (!job->px || (cmyk && !job->row))
        return fm_fail(job->e, FM_ENOMEM, job->name, "out of memory for %zux%zu pixels", w, h);
    while (ci->output_scanline < h) {
        uint8_t *dst = job->px + (size_t)ci->output_scanline * w * 4;
        JSAMPROW rows[1] = {cmyk ? job->row : dst};
        if (jpeg_read_scanlines(ci, rows, 1) != 1)
            return fm_fail(job->e, FM_EFORMAT, job->name, "truncated JPEG (no more rows)");
        if (cmyk)
            cmyk_to_rgba(job->row, dst, w, ci->saw_Adobe_marker);
    }
    jpeg_finish_decompress(ci);
    return FM_OK;
}

int image_decode_jpeg(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e)
{
    if (len < 3 || buf[0] != 0xff || buf[1] != 0xd8 || buf[2] != 0xff)
        return fm_fail(e, FM_EFORMAT, name, len ? "not a JPEG file" : "empty file, not a JPEG");
    jpeg_job *job = calloc(1, sizeof *job);
    if (!job)
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    job->buf = buf;
    job->len = len;
    job->name = name;
    job->e = e;
    job->cinfo.err = jpeg_std_error(&job->fault.pub);
    job->fault.pub.error_exit = on_error_exit;
    job->fault.pub.emit_message = on_emit_message;
    job->fault.pub.output_message = on_output_message;
    int rc = jpeg_guarded(job);
    if (rc < 0)
        rc = jpeg_failed(job);
    image img = {(int)job->cinfo.image_width, (int)job->cinfo.image_height, job->px};
    jpeg_destroy_decompress(&job->cinfo);
    free(job->row);
    if (rc == FM_OK && job->orientation != 1) {
        image up;
        rc = image_orient(&img, job->orientation, &up, e);
        if (rc == FM_OK) {
            free(job->px);
            job->px = NULL;
            img = up;
        } else {
            fm_in_file(e, rc, name);
        }
    }
    if (rc == FM_OK)
        *out = img;
    else
        free(job->px);
    free(job);
    return rc;
}
