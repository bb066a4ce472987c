/* fuzz_safetensors.c: convert_st_decode on any bytes, two ways.
 *
 * 1. The input as a whole file (length prefix, header, data).
 * 2. The input as the JSON header alone, framed as a file whose data is
 *    the MLP's 971,048 bytes of parameters (zeros), and again as one with
 *    the convolutional network's 423,464, so that mutations of a valid
 *    header of either network reach every check past the JSON parser.
 * A file that decodes must re-encode and decode again to the same
 * parameters, and that encoding is a fixed point. On failure the outputs
 * must be untouched. */
#include "convert.h"
#include "fuzz.h"
#include "model_file.h"

#define MLP_BYTES ((size_t)4 * 242762)
#define CNN_BYTES ((size_t)4 * 105866)
#define HEADER_MAX 65536

static void check_one(const uint8_t *data, size_t size)
{
    static char untouched_meta;
    mlp m, pattern;
    memset(&m, 0xab, sizeof m);
    memset(&pattern, 0xab, sizeof pattern);
    char *meta = &untouched_meta;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = convert_st_decode(data, size, "fuzz.safetensors", &m, &meta, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.safetensors");
        FUZZ_ASSERT(rc == FM_EFORMAT || rc == FM_ELIMIT || rc == FM_ENOMEM);
        FUZZ_ASSERT(memcmp(&m, &pattern, sizeof m) == 0 && meta == &untouched_meta);
        fm_err e2;
        memset(&e2, 0, sizeof e2);
        FUZZ_ASSERT(convert_st_decode(data, size, "fuzz.safetensors", &m, NULL, &e2) == rc);
        FUZZ_ASSERT(strcmp(e.msg, e2.msg) == 0);
        return;
    }
    FUZZ_ASSERT(mlp_is_fmnist(&m));
    FUZZ_ASSERT(m.nparams * 4 == (m.nconv ? CNN_BYTES : MLP_BYTES));
    FUZZ_ASSERT(meta && meta != &untouched_meta && strlen(meta) <= 65536);
    for (const char *s = meta; *s; s++)
        FUZZ_ASSERT(*s == '\n' || (*s >= 0x20 && *s < 0x7f));
    /* Encode, decode: the same parameters; encoding again: the same bytes. */
    uint8_t *b1, *b2;
    size_t n1, n2;
    mlp m2, m3;
    char *meta2, *meta3;
    FUZZ_ASSERT(convert_st_encode(&m, meta, &b1, &n1, NULL) == FM_OK);
    FUZZ_ASSERT(convert_st_decode(b1, n1, "again", &m2, &meta2, NULL) == FM_OK);
    FUZZ_ASSERT(mlp_same_shape(&m, &m2));
    FUZZ_ASSERT(memcmp(m.params, m2.params, m.nparams * 4) == 0);
    FUZZ_ASSERT(convert_st_encode(&m2, meta2, &b2, &n2, NULL) == FM_OK);
    FUZZ_ASSERT(convert_st_decode(b2, n2, "again", &m3, &meta3, NULL) == FM_OK);
    FUZZ_ASSERT(strcmp(meta2, meta3) == 0);
    uint8_t *b3;
    size_t n3;
    FUZZ_ASSERT(convert_st_encode(&m3, meta3, &b3, &n3, NULL) == FM_OK);
    FUZZ_ASSERT(n3 == n2 && memcmp(b3, b2, n2) == 0);
    /* As an fmnist model file: written, and read back as it was. */
    uint8_t *mb;
    size_t mn;
    mlp m4;
    char *meta4;
    FUZZ_ASSERT(model_encode(&m, meta, NULL, 0, &mb, &mn, NULL) == FM_OK);
    FUZZ_ASSERT(model_decode(mb, mn, "fuzz.model", &m4, &meta4, NULL, NULL, NULL) == FM_OK);
    FUZZ_ASSERT(strcmp(meta4, meta) == 0);
    free(mb), free(meta4);
    mlp_free(&m4);
    free(b1), free(b2), free(b3), free(meta), free(meta2), free(meta3);
    mlp_free(&m), mlp_free(&m2), mlp_free(&m3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *file;
    static size_t dirty; /* header bytes written by earlier inputs */
    check_one(data, size);
    if (size > HEADER_MAX)
        return 0;
    if (!file && !(file = calloc(1, 8 + HEADER_MAX + MLP_BYTES)))
        return 0;
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)((uint64_t)size >> (8 * i));
    memcpy(file + 8, data, size);
    if (dirty > size)
        memset(file + 8 + size, 0, dirty - size);
    dirty = size;
    check_one(file, 8 + size + MLP_BYTES);
    check_one(file, 8 + size + CNN_BYTES);
    return 0;
}
