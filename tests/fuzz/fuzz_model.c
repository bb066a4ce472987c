/* fuzz_model.c: model_decode on any bytes.
 *
 * The format is canonical, so a file that decodes must encode back to
 * exactly its own bytes; the harness checks that, and that decoding
 * without the optional outputs (metadata, state blocks) agrees. A model of
 * fmnist's networks goes to safetensors and back to the same metadata
 * (net=cnn added to a convolutional network's without one): both readers
 * check metadata alike. On failure the outputs must be untouched.
 *
 * Almost every mutation breaks the trailing CRC-32, which would stop the
 * fuzzer at the first check; the libFuzzer build therefore adds a mutator
 * that rewrites the CRC after three mutations in four. */
#include <zlib.h>

#include "convert.h"
#include "fuzz.h"
#include "model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char untouched_meta;
    static float untouched_mv;
    int nblocks = -1;
    mlp m, pattern;
    memset(&m, 0xab, sizeof m);
    memset(&pattern, 0xab, sizeof pattern);
    char *meta = &untouched_meta;
    float *mv = &untouched_mv;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = model_decode(data, size, "fuzz.model", &m, &meta, &mv, &nblocks, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.model");
        FUZZ_ASSERT(rc == FM_EFORMAT || rc == FM_ENOMEM);
        FUZZ_ASSERT(memcmp(&m, &pattern, sizeof m) == 0);
        FUZZ_ASSERT(meta == &untouched_meta && mv == &untouched_mv && nblocks == -1);
        /* Without the optional outputs it fails the same way. */
        fm_err e2;
        memset(&e2, 0, sizeof e2);
        FUZZ_ASSERT(model_decode(data, size, "fuzz.model", &m, NULL, NULL, NULL, &e2) == rc);
        FUZZ_ASSERT(strcmp(e.msg, e2.msg) == 0);
        return 0;
    }

    FUZZ_ASSERT(m.nlayers >= 1 && m.nlayers <= MLP_MAX_LAYERS);
    for (int l = 0; l <= m.nlayers; l++)
        FUZZ_ASSERT(m.width[l] >= 1 && m.width[l] <= MLP_MAX_WIDTH);
    FUZZ_ASSERT(meta != NULL && meta != &untouched_meta);
    FUZZ_ASSERT(strlen(meta) <= MODEL_META_MAX);
    FUZZ_ASSERT(mv != &untouched_mv);
    FUZZ_ASSERT(nblocks >= 0 && nblocks <= MODEL_MAX_BLOCKS && (nblocks == 0) == (mv == NULL));

    /* Decode, encode: the same bytes. */
    uint8_t *again = NULL;
    size_t len = 0;
    FUZZ_ASSERT(model_encode(&m, meta, mv, nblocks, &again, &len, NULL) == FM_OK);
    FUZZ_ASSERT(len == size);
    FUZZ_ASSERT(memcmp(again, data, size) == 0);
    free(again);

    /* Without the optional outputs: the same network. */
    mlp m2;
    FUZZ_ASSERT(model_decode(data, size, "fuzz.model", &m2, NULL, NULL, NULL, NULL) == FM_OK);
    FUZZ_ASSERT(mlp_same_shape(&m, &m2) && m.nparams == m2.nparams);
    FUZZ_ASSERT(memcmp(m.params, m2.params, m.nparams * sizeof(float)) == 0);
    mlp_free(&m2);

    /* To safetensors and back: the same metadata. */
    if (mlp_is_fmnist(&m)) {
        uint8_t *st;
        size_t n;
        char *meta2;
        FUZZ_ASSERT(convert_st_encode(&m, meta, &st, &n, NULL) == FM_OK);
        FUZZ_ASSERT(convert_st_decode(st, n, "fuzz.safetensors", &m2, &meta2, NULL) == FM_OK);
        size_t k = strlen(meta);
        const char *tail = m.nconv && !meta_get(meta, "net", NULL, 0) ? "net=cnn\n" : "";
        /* All but "format", safetensors' own key (left out), comes back. */
        FUZZ_ASSERT(meta_get(meta, "format", NULL, 0) ||
                    (strncmp(meta2, meta, k) == 0 && strcmp(meta2 + k, tail) == 0));
        free(st), free(meta2);
        mlp_free(&m2);
    }

    mlp_free(&m);
    free(meta);
    free(mv);
    return 0;
}

#ifdef FUZZ_LIBFUZZER
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 4 != 0 && size >= 8) {
        uLong c = crc32(0L, data, (uInt)(size - 4));
        uint8_t *q = data + size - 4;
        q[0] = (uint8_t)c;
        q[1] = (uint8_t)(c >> 8);
        q[2] = (uint8_t)(c >> 16);
        q[3] = (uint8_t)(c >> 24);
    }
    return size;
}
#endif
