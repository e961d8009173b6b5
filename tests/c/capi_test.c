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
        check_status(c->id, "per_sample",
                     lk_pointwise_per_sample(&loss, c->pred, c->target, c->len, c->weight, per, NULL, &sum),
                     LK_STATUS_OK);
        for (size_t i = 0; i < n; i++) check(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
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
        check_status(c->id, "per_sample",
                     lk_ctc_per_sample(&c->spec, c->acts, c->input_lengths, c->labels, c->labels_len,
                                       c->label_lengths, ws, ws_len, per, NULL, &sum),
                     LK_STATUS_OK);
        for (size_t i = 0; i < c->spec.n; i++) check_maybe_inf(c->id, "per_sample", per[i], c->per_sample[i], 1e-5, 1e-6);
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

int main(void) {
    pointwise();
    ctc();
    if (failures) {
        printf("capi: %d failures\n", failures);
        return 1;
    }
    printf("capi: all C interface checks passed\n");
    return 0;
}
