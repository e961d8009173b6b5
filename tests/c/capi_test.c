/* C test of loss-kernels' C interface: a few conformance cases per loss
 * family through the extern "C" functions, linked against the static
 * library. Built and run by .ci/capi.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
                     lk_pointwise_value_and_grad(&loss, c->pred, c->target, c->len, c->weight, 1, grad, &value),
                     LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        for (size_t i = 0; i < c->len; i++) check(c->id, "grad_mean", grad[i], c->grad_mean[i], 1e-5, 1e-5);
        check_status(c->id, "value(sum)",
                     lk_pointwise_value_and_grad(&loss, c->pred, c->target, c->len, c->weight, 0, NULL, &value),
                     LK_STATUS_OK);
        check(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        /* The per-sample rule: the sum output is the sum of the per-sample
         * values, with or without gradient. */
        sum = -1.0f;
        check_status(c->id, "per_sample",
                     lk_pointwise_per_sample(&loss, c->pred, c->target, c->len, c->weight, per, NULL, &sum),
                     LK_STATUS_OK);
        for (size_t i = 0; i < n; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check(c->id, "per_sample sum (no grad)", sum, c->sum, 1e-5, 1e-6);
        sum = -1.0f;
        check_status(c->id, "per_sample_and_grad",
                     lk_pointwise_per_sample(&loss, c->pred, c->target, c->len, c->weight, per, grad, &sum),
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
    check_status("huber rho=0", "new", lk_pointwise_value_and_grad(&bad, x, x, 2, NULL, 1, g, &v),
                 LK_STATUS_INVALID_PARAMETER);
    LkPointwise l2 = {LK_POINTWISE_KIND_L2, 0.0f, 0, 3};
    check_status("l2 dim=3 len=2", "value", lk_pointwise_value_and_grad(&l2, x, x, 2, NULL, 1, g, &v),
                 LK_STATUS_NOT_DIVISIBLE);
    l2.dim = 1;
    check_status("l2 null pred", "value", lk_pointwise_value_and_grad(&l2, NULL, x, 2, NULL, 1, g, &v),
                 LK_STATUS_NULL_POINTER);
    check_status("l2 reduction 7", "value", lk_pointwise_value_and_grad(&l2, x, x, 2, NULL, 7, g, &v),
                 LK_STATUS_INVALID_ENUM);
    LkPointwise unknown = {99, 0.0f, 0, 1};
    check_status("kind 99", "value", lk_pointwise_value_and_grad(&unknown, x, x, 2, NULL, 1, g, &v),
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
                                           c->label_lengths, 0, ws, ws_len, grad, &value),
                     LK_STATUS_OK);
        check_maybe_inf(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        for (size_t i = 0; i < len; i++) check(c->id, "grad_sum", grad[i], c->grad_sum[i], 1e-5, c->grad_atol);
        check_status(c->id, "value(mean)",
                     lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                           c->label_lengths, 1, ws, ws_len, NULL, &value),
                     LK_STATUS_OK);
        check_maybe_inf(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        sum = -1.0f;
        check_status(c->id, "per_sample",
                     lk_ctc_per_sample(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                       c->label_lengths, ws, ws_len, per, NULL, &sum),
                     LK_STATUS_OK);
        for (size_t i = 0; i < c->spec.n; i++) check_maybe_inf(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check_maybe_inf(c->id, "per_sample sum (no grad)", sum, c->sum, 1e-5, 1e-6);
        /* a workspace one float short is an error, not a crash */
        check_status(c->id, "small workspace",
                     lk_ctc_value_and_grad(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                           c->label_lengths, 0, ws, ws_len - 1, grad, &value),
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
                                  grad, &value);
        } else {
            LkSoftmaxCrossEntropy spec = {c->classes, c->smoothing, c->ignore_index, c->log_probs};
            st = lk_softmax_cross_entropy(&spec, c->logits, c->len, c->labels, c->target, c->class_weight,
                                          c->sample_weight, 1, NULL, grad, &value);
        }
        check_status(c->id, "mean + grad", st, LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        for (size_t i = 0; i < c->len; i++) check(c->id, "grad_mean", grad[i], c->grad_mean[i], 1e-5, 1e-5);
        if (c->kl) {
            st = lk_kl_divergence(c->classes, c->log_probs, c->logits, c->target, c->len, c->sample_weight, 0, per,
                                  NULL, &value);
        } else {
            LkSoftmaxCrossEntropy spec = {c->classes, c->smoothing, c->ignore_index, c->log_probs};
            st = lk_softmax_cross_entropy(&spec, c->logits, c->len, c->labels, c->target, c->class_weight,
                                          c->sample_weight, 0, per, NULL, &value);
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
                 lk_softmax_cross_entropy(&bad, x, 6, labels, NULL, NULL, NULL, 1, NULL, g, &v),
                 LK_STATUS_INVALID_PARAMETER);
    bad.label_smoothing = 0.0f;
    labels[1] = 3;
    check_status("label 3 of 3 classes", "softmax",
                 lk_softmax_cross_entropy(&bad, x, 6, labels, NULL, NULL, NULL, 1, NULL, g, &v), LK_STATUS_OUT_OF_RANGE);
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
                            g[1], g[2], &value);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, NULL, g[0], g[1],
                                     &value);
        }
        check_status(c->id, "sum + grad", st, LK_STATUS_OK);
        check(c->id, "sum", value, c->sum, 1e-5, 1e-6);
        for (int j = 0; j < (c->triplet ? 3 : 2); j++)
            for (size_t i = 0; i < c->len; i++) check(c->id, "grad_sum", g[j][i], c->grad_sum[j][i], 1e-5, 1e-5);
        if (c->triplet) {
            st = lk_triplet(c->dim, c->margin, c->euclidean, c->in[0], c->in[1], c->in[2], c->len, NULL, 1, NULL, NULL,
                            NULL, NULL, &value);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 1, NULL, NULL, NULL,
                                     &value);
        }
        check_status(c->id, "mean", st, LK_STATUS_OK);
        check(c->id, "mean", value, c->mean, 1e-5, 1e-6);
        if (c->triplet) {
            st = lk_triplet(c->dim, c->margin, c->euclidean, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, per, NULL,
                            NULL, NULL, &value);
        } else {
            st = lk_cosine_embedding(c->dim, c->margin, c->in[0], c->in[1], c->in[2], c->len, NULL, 0, per, NULL, NULL,
                                     &value);
        }
        check_status(c->id, "per_sample", st, LK_STATUS_OK);
        for (size_t i = 0; i < rows; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
        check(c->id, "per_sample sum (no grad)", value, c->sum, 1e-5, 1e-6);
        for (int j = 0; j < 3; j++) free(g[j]);
        free(per);
    }
    float x[4] = {0}, v;
    check_status("triplet dim 3 len 4", "triplet", lk_triplet(3, 1.0f, 0, x, x, x, 4, NULL, 0, NULL, NULL, NULL, NULL, &v),
                 LK_STATUS_NOT_DIVISIBLE);
    printf("capi: embedding %zu cases\n", ncases);
}

int main(void) {
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
