/* C test of loss-kernels' C interface: a few conformance cases per loss
 * family through the extern "C" functions, linked against the static
 * library. Built and run by .ci/capi.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss_kernels.h"
#include "cases.h"

static int failures = 0;

static void check(const char *id, const char *what, double got, double want, double rtol, double atol) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want))) {
        printf("FAIL %s: %s = %.9g, want %.9g\n", id, what, got, want);
        failures++;
    }
}

static void check_status(const char *id, const char *what, LkStatus got, LkStatus want) {
    if (got != want) {
        printf("FAIL %s: %s returned status %d, want %d\n", id, what, (int)got, (int)want);
        failures++;
    }
}

static void pointwise(void) {
    size_t ncases = sizeof POINTWISE_CASES / sizeof POINTWISE_CASES[0];
    for (size_t k = 0; k < ncases; k++) {
        const PointwiseCase *c = &POINTWISE_CASES[k];
        LkPointwise loss = {c->kind, c->param, c->flags, c->dim};
        size_t n = c->len / c->dim;
        float *grad = calloc(c->len, sizeof(float));
        float *per = calloc(n, sizeof(float));
        float value = 0.0f, sum = 0.0f;
        check_status(c->id, "value_and_grad(mean)",
                     lk_pointwise_value_and_grad(&loss, c->pred, c->target, c->len, c->weight, 1, grad, &value, NULL),
                     LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        for (size_t i = 0; i < c->len; i++) check(c->id, "grad_mean", grad[i], c->grad_mean[i], 1e-5, 1e-5);
        check_status(c->id, "value(sum)",
                     lk_pointwise_value_and_grad(&loss, c->pred, c->target, c->len, c->weight, 0, NULL, &value, NULL),
                     LK_STATUS_OK);
        check(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        /* The per-sample rule: the sum output is the sum of the per-sample
         * values, with or without gradient. */
        sum = -1.0f;
        check_status(c->id, "per_sample",
                     lk_pointwise_per_sample(&loss, c->pred, c->target, c->len, c->weight, per, NULL, &sum, NULL),
                     LK_STATUS_OK);
        for (size_t i = 0; i < n; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check(c->id, "per_sample sum (no grad)", sum, c->sum, 1e-5, 1e-6);
        sum = -1.0f;
        check_status(c->id, "per_sample_and_grad",
                     lk_pointwise_per_sample(&loss, c->pred, c->target, c->len, c->weight, per, grad, &sum, NULL),
                     LK_STATUS_OK);
        check(c->id, "per_sample sum (grad)", sum, c->sum, 1e-5, 1e-6);
        /* the gradient of the sum: the mean's times the number of samples */
        for (size_t i = 0; i < c->len; i++) check(c->id, "grad_sum", grad[i], c->grad_mean[i] * n, 1e-5, 1e-5);
        free(grad);
        free(per);
    }
    /* Errors come back as status codes, never a crash. */
    LkPointwise bad = {LK_POINTWISE_KIND_HUBER, 0.0f, 0, 1};
    float x[2] = {1.0f, 2.0f}, g[2], v;
    check_status("huber rho=0", "new", lk_pointwise_value_and_grad(&bad, x, x, 2, NULL, 1, g, &v, NULL),
                 LK_STATUS_INVALID_PARAMETER);
    LkPointwise l2 = {LK_POINTWISE_KIND_L2, 0.0f, 0, 3};
    check_status("l2 dim=3 len=2", "value", lk_pointwise_value_and_grad(&l2, x, x, 2, NULL, 1, g, &v, NULL),
                 LK_STATUS_NOT_DIVISIBLE);
    l2.dim = 1;
    check_status("l2 null pred", "value", lk_pointwise_value_and_grad(&l2, NULL, x, 2, NULL, 1, g, &v, NULL),
                 LK_STATUS_NULL_POINTER);
    check_status("l2 reduction 7", "value", lk_pointwise_value_and_grad(&l2, x, x, 2, NULL, 7, g, &v, NULL),
                 LK_STATUS_INVALID_ENUM);
    LkPointwise unknown = {99, 0.0f, 0, 1};
    check_status("kind 99", "value", lk_pointwise_value_and_grad(&unknown, x, x, 2, NULL, 1, g, &v, NULL),
                 LK_STATUS_INVALID_ENUM);
    printf("capi: pointwise %zu cases\n", ncases);
}

/* |got - want| <= atol + rtol |want|, with infinities matching exactly. */
static void check_maybe_inf(const char *id, const char *what, double got, double want, double rtol, double atol) {
    if (isinf(want)) {
        if (got != want) {
            printf("FAIL %s: %s = %.9g, want %.9g\n", id, what, got, want);
            failures++;
        }
        return;
    }
    check(id, what, got, want, rtol, atol);
}

static void ctc(void) {
    size_t ncases = sizeof CTC_CASES / sizeof CTC_CASES[0];
    for (size_t k = 0; k < ncases; k++) {
        const CtcCase *c = &CTC_CASES[k];
        size_t len = c->spec.t * c->spec.n * c->spec.c;
        size_t ws_len = lk_ctc_workspace_len(c->spec.t, c->spec.max_label_len);
        float *ws = calloc(ws_len, sizeof(float));
        float *grad = calloc(len, sizeof(float));
        float *per = calloc(c->spec.n, sizeof(float));
        float value = 0.0f, sum = 0.0f;
        check_status(c->id, "value_and_grad(sum)",
                     lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                           c->label_lengths, 0, ws, ws_len, grad, &value, NULL),
                     LK_STATUS_OK);
        check_maybe_inf(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        for (size_t i = 0; i < len; i++) check(c->id, "grad_sum", grad[i], c->grad_sum[i], 1e-5, c->grad_atol);
        check_status(c->id, "value(mean)",
                     lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                           c->label_lengths, 1, ws, ws_len, NULL, &value, NULL),
                     LK_STATUS_OK);
        check_maybe_inf(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        sum = -1.0f;
        check_status(c->id, "per_sample",
                     lk_ctc_per_sample(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                       c->label_lengths, ws, ws_len, per, NULL, &sum, NULL),
                     LK_STATUS_OK);
        for (size_t i = 0; i < c->spec.n; i++) check_maybe_inf(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check_maybe_inf(c->id, "per_sample sum (no grad)", sum, c->sum, 1e-5, 1e-6);
        /* a value-only call needs only lk_ctc_value_workspace_len */
        {
            size_t vws_len = lk_ctc_value_workspace_len(c->spec.max_label_len);
            float mean2 = 0.0f;
            check_status(c->id, "value(mean), value workspace",
                         lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                               c->label_lengths, LK_REDUCTION_MEAN, ws, vws_len, NULL, &mean2, NULL),
                         LK_STATUS_OK);
            check_maybe_inf(c->id, "mean (value workspace)", mean2, c->mean, 1e-5, 1e-6);
        }
        /* a workspace one float short is an error, not a crash */
        check_status(c->id, "small workspace",
                     lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                           c->label_lengths, 0, ws, ws_len - 1, grad, &value, NULL),
                     LK_STATUS_WORKSPACE_TOO_SMALL);
        free(ws);
        free(grad);
        free(per);
    }
    printf("capi: ctc %zu cases\n", ncases);
}

static void softmax(void) {
    size_t ncases = sizeof SOFTMAX_CASES / sizeof SOFTMAX_CASES[0];
    for (size_t k = 0; k < ncases; k++) {
        const SoftmaxCase *c = &SOFTMAX_CASES[k];
        size_t rows = c->len / c->classes;
        float *grad = calloc(c->len, sizeof(float));
        float *per = calloc(rows, sizeof(float));
        float value = 0.0f;
        LkStatus st;
        if (c->kl) {
            st = lk_kl_divergence(c->classes, c->log_probs, c->logits, c->target, c->len, c->sample_weight, 1, NULL,
                                  grad, &value, NULL);
        } else {
            LkSoftmaxCrossEntropy spec = {c->classes, c->smoothing, c->ignore_index, c->log_probs};
            st = lk_softmax_cross_entropy(&spec, c->logits, c->len, c->labels, c->target, c->class_weight,
                                          c->sample_weight, 1, NULL, grad, &value, NULL);
        }
        check_status(c->id, "mean + grad", st, LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        for (size_t i = 0; i < c->len; i++) check(c->id, "grad_mean", grad[i], c->grad_mean[i], 1e-5, 1e-5);
        if (c->kl) {
            st = lk_kl_divergence(c->classes, c->log_probs, c->logits, c->target, c->len, c->sample_weight, 0, per,
                                  NULL, &value, NULL);
        } else {
            LkSoftmaxCrossEntropy spec = {c->classes, c->smoothing, c->ignore_index, c->log_probs};
            st = lk_softmax_cross_entropy(&spec, c->logits, c->len, c->labels, c->target, c->class_weight,
                                          c->sample_weight, 0, per, NULL, &value, NULL);
        }
        check_status(c->id, "per_sample", st, LK_STATUS_OK);
        check(c->id, "sum", value, c->sum, 1e-5, 1e-5);
        for (size_t i = 0; i < rows; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        free(grad);
        free(per);
    }
    LkSoftmaxCrossEntropy bad = {3, 1.5f, -1, 0};
    float x[6] = {0}, g[6], v;
    uint32_t labels[2] = {0, 1};
    check_status("smoothing 1.5", "softmax",
                 lk_softmax_cross_entropy(&bad, x, 6, labels, NULL, NULL, NULL, 1, NULL, g, &v, NULL),
                 LK_STATUS_INVALID_PARAMETER);
    bad.label_smoothing = 0.0f;
    labels[1] = 3;
    check_status("label 3 of 3 classes", "softmax",
                 lk_softmax_cross_entropy(&bad, x, 6, labels, NULL, NULL, NULL, 1, NULL, g, &v, NULL), LK_STATUS_OUT_OF_RANGE);
    printf("capi: softmax/kl %zu cases\n", ncases);
}

static void embedding(void) {
    size_t ncases = sizeof EMBEDDING_CASES / sizeof EMBEDDING_CASES[0];
    for (size_t k = 0; k < ncases; k++) {
        const EmbeddingCase *c = &EMBEDDING_CASES[k];
        size_t rows = c->len / c->dim;
        float *g[3];
        for (int j = 0; j < 3; j++) g[j] = calloc(c->len, sizeof(float));
        float *per = calloc(rows, sizeof(float));
        float value = 0.0f;
        LkStatus st;
        if (c->triplet) {
            st = lk_triplet(c->dim, c->margin, c->euclidean, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, NULL, g[0],
                            g[1], g[2], &value, NULL);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, NULL, g[0], g[1],
                                     &value, NULL);
        }
        check_status(c->id, "sum + grad", st, LK_STATUS_OK);
        check(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        for (int j = 0; j < (c->triplet ? 3 : 2); j++)
            for (size_t i = 0; i < c->len; i++) check(c->id, "grad_sum", g[j][i], c->grad_sum[j][i], 1e-5, 1e-5);
        if (c->triplet) {
            st = lk_triplet(c->dim, c->margin, c->euclidean, c->in[0], c->in[1], c->in[2], c->len, NULL, 1, NULL, NULL,
                            NULL, NULL, &value, NULL);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 1, NULL, NULL, NULL,
                                     &value, NULL);
        }
        check_status(c->id, "mean", st, LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        if (c->triplet) {
            st = lk_triplet(c->dim, c->margin, c->euclidean, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, per, NULL,
                            NULL, NULL, &value, NULL);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, per, NULL, NULL,
                                     &value, NULL);
        }
        check_status(c->id, "per_sample", st, LK_STATUS_OK);
        for (size_t i = 0; i < rows; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check(c->id, "per_sample sum (no grad)", value, c->sum, 1e-5, 1e-6);
        for (int j = 0; j < 3; j++) free(g[j]);
        free(per);
    }
    float x[4] = {0}, v;
    check_status("triplet dim 3 len 4", "triplet", lk_triplet(3, 1.0f, 0, x, x, x, 4, NULL, 0, NULL, NULL, NULL, NULL, &v, NULL),
                 LK_STATUS_NOT_DIVISIBLE);
    printf("capi: embedding %zu cases\n", ncases);
}

/* The C interface's own rules: required value outputs, flag bits, gradient
 * pointers given together, the error detail, lk_status_str, the version. */
static void interface_rules(void) {
    float x[4] = {0.5f, 1.0f, -1.0f, 2.0f}, t[4] = {1.0f, 0.0f, 1.0f, 2.0f};
    float g[3][4], per[4], v = -7.0f;
    LkErrorDetail d;
    LkPointwise l2 = {LK_POINTWISE_KIND_L2, 0.0f, 0, 1};
    LkPointwise poisson = {LK_POINTWISE_KIND_POISSON_NLL, 0.0f, 0xFF, 1};
    int i, j;

    /* out_value is required: NULL is an error, and nothing is computed. */
    for (i = 0; i < 4; i++) g[0][i] = -7.0f;
    check_status("null out_value", "pointwise",
                 lk_pointwise_value_and_grad(&l2, x, t, 4, NULL, LK_REDUCTION_MEAN, g[0], NULL, &d),
                 LK_STATUS_NULL_POINTER);
    check_status("null out_value", "detail.status", d.status, LK_STATUS_NULL_POINTER);
    if (strcmp(d.argument, "out_value") != 0) {
        printf("FAIL null out_value: detail.argument = \"%s\"\n", d.argument);
        failures++;
    }
    for (i = 0; i < 4; i++) check("null out_value", "grad untouched", g[0][i], -7.0f, 0.0, 0.0);
    {
        LkSoftmaxCrossEntropy ce = {2, 0.0f, -1, 0};
        uint32_t labels[2] = {0, 1};
        check_status("null out_value", "softmax",
                     lk_softmax_cross_entropy(&ce, x, 4, labels, NULL, NULL, NULL, LK_REDUCTION_SUM, NULL, NULL, NULL,
                                              NULL),
                     LK_STATUS_NULL_POINTER);
    }
    check_status("null out_value", "kl",
                 lk_kl_divergence(2, 1, x, t, 4, NULL, LK_REDUCTION_SUM, NULL, NULL, NULL, NULL),
                 LK_STATUS_NULL_POINTER);
    check_status("null out_value", "cosine",
                 lk_cosine_embedding(2, 0.0f, x, t, t, 4, NULL, LK_REDUCTION_SUM, NULL, NULL, NULL, NULL, NULL),
                 LK_STATUS_NULL_POINTER);

    /* Undefined flag bits are errors; the defined ones work. */
    v = -7.0f;
    check_status("poisson flags 0xFF", "pointwise",
                 lk_pointwise_value_and_grad(&poisson, x, t, 4, NULL, LK_REDUCTION_MEAN, NULL, &v, &d),
                 LK_STATUS_INVALID_ENUM);
    check("poisson flags 0xFF", "value untouched", v, -7.0f, 0.0, 0.0);
    check("poisson flags 0xFF", "detail.found", (double)d.found, 255.0, 0.0, 0.0);
    poisson.flags = LK_POISSON_LOG_INPUT | LK_POISSON_FULL;
    check_status("poisson flags 3", "pointwise",
                 lk_pointwise_value_and_grad(&poisson, x, t, 4, NULL, LK_REDUCTION_MEAN, NULL, &v, NULL),
                 LK_STATUS_OK);
    l2.flags = 1;
    check_status("l2 flags 1", "pointwise", lk_pointwise_value_and_grad(&l2, x, t, 4, NULL, 0, NULL, &v, NULL),
                 LK_STATUS_INVALID_ENUM);
    l2.flags = 0;

    /* Gradient pointers of one call come together: a partial set is an
     * error and writes nothing. */
    for (j = 0; j < 3; j++)
        for (i = 0; i < 4; i++) g[j][i] = -7.0f;
    v = -7.0f;
    check_status("triplet grad_anchor only", "triplet",
                 lk_triplet(2, 1.0f, 0, x, t, t, 4, NULL, LK_REDUCTION_SUM, NULL, g[0], NULL, NULL, &v, &d),
                 LK_STATUS_NULL_POINTER);
    if (strcmp(d.argument, "grad_positive") != 0) {
        printf("FAIL triplet grad_anchor only: detail.argument = \"%s\"\n", d.argument);
        failures++;
    }
    check("triplet grad_anchor only", "value untouched", v, -7.0f, 0.0, 0.0);
    for (i = 0; i < 4; i++) check("triplet grad_anchor only", "grad untouched", g[0][i], -7.0f, 0.0, 0.0);
    check_status("cosine grad_x2 only", "cosine",
                 lk_cosine_embedding(2, 0.0f, x, t, t, 4, NULL, LK_REDUCTION_SUM, NULL, NULL, g[1], &v, NULL),
                 LK_STATUS_NULL_POINTER);
    check_status("triplet all grads", "triplet",
                 lk_triplet(2, 1.0f, 0, x, t, t, 4, NULL, LK_REDUCTION_SUM, NULL, g[0], g[1], g[2], &v, &d),
                 LK_STATUS_OK);
    check_status("triplet all grads", "detail.status", d.status, LK_STATUS_OK);
    if (d.argument[0] != 0 || d.message[0] != 0) {
        printf("FAIL success detail: argument \"%s\", message \"%s\"\n", d.argument, d.message);
        failures++;
    }

    /* The detail of a Rust error: argument, index, expected, found, message. */
    {
        LkSoftmaxCrossEntropy ce = {3, 0.0f, -1, 0};
        float logits[6] = {0};
        uint32_t labels[2] = {0, 7};
        check_status("label 7 of 3", "softmax",
                     lk_softmax_cross_entropy(&ce, logits, 6, labels, NULL, NULL, NULL, LK_REDUCTION_MEAN, NULL, NULL,
                                              &v, &d),
                     LK_STATUS_OUT_OF_RANGE);
        if (strcmp(d.argument, "labels") != 0 || d.index != 1 || d.expected != 3 || d.found != 7 ||
            strstr(d.message, "labels[1]") == NULL) {
            printf("FAIL label 7 of 3: detail %s [%lu] expected %lu found %lu: %s\n", d.argument,
                   (unsigned long)d.index, (unsigned long)d.expected, (unsigned long)d.found, d.message);
            failures++;
        }
    }
    check_status("null out", "per_sample",
                 lk_pointwise_per_sample(&l2, x, t, 4, NULL, NULL, NULL, &v, &d), LK_STATUS_NULL_POINTER);
    if (strcmp(d.argument, "out") != 0) {
        printf("FAIL null out: detail.argument = \"%s\"\n", d.argument);
        failures++;
    }
    (void)per;

    /* Status names and the version. */
    if (strcmp(lk_status_str(LK_STATUS_OK), "ok") != 0 ||
        strcmp(lk_status_str(LK_STATUS_NULL_POINTER), "null pointer") != 0 ||
        strcmp(lk_status_str(-3), "unknown status") != 0 || strcmp(lk_status_str(11), "unknown status") != 0) {
        printf("FAIL lk_status_str\n");
        failures++;
    }
    if (lk_version() != LK_VERSION) {
        printf("FAIL lk_version() = %lu, header LK_VERSION = %lu\n", (unsigned long)lk_version(),
               (unsigned long)LK_VERSION);
        failures++;
    }
    printf("capi: interface rules checked (library %d.%d.%d)\n", LK_VERSION_MAJOR, LK_VERSION_MINOR,
           LK_VERSION_PATCH);
}

int main(void) {
    interface_rules();
    pointwise();
    ctc();
    softmax();
    embedding();
    if (failures) {
        printf("capi: %d failures\n", failures);
        return 1;
    }
    printf("capi: all C interface checks passed\n");
    return 0;
}
