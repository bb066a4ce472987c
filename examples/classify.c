/* classify.c: libfmnist in about 30 lines: classifies the pictures named on
 * the command line with the model in $FMNIST_MODEL (or fmnist.model).
 *   cc classify.c $(pkg-config --cflags --libs fmnist) -o classify
 *   ./classify shirt.jpg boot.png */
#include <fmnist.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *path = getenv("FMNIST_MODEL") ? getenv("FMNIST_MODEL") : "fmnist.model";
    fmnist_model *model;
    fmnist_work *work;
    fmnist_error err;
    if (fmnist_model_load(path, &model, &err) || fmnist_work_new(model, &work, &err)) {
        fprintf(stderr, "classify: %s\n", err.message);
        return 1;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        float probs[FMNIST_CLASSES];
        int top[3];
        if (fmnist_classify_file(model, work, argv[i], probs, &err)) {
            fprintf(stderr, "classify: %s\n", err.message);
            status = 1;
            continue;
        }
        fmnist_top(probs, 3, top);
        printf("%s: %s (%.1f%%); then %s %.1f%%, %s %.1f%%\n", argv[i],
               fmnist_class_name(top[0]), 100 * probs[top[0]], fmnist_class_name(top[1]),
               100 * probs[top[1]], fmnist_class_name(top[2]), 100 * probs[top[2]]);
    }
    fmnist_work_free(work);
    fmnist_model_free(model);
    return status;
}
