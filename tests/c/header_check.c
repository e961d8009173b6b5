/* The header compiles as C89 and as C++ (.ci/capi.sh builds this file
 * with gcc -std=c89 -pedantic and g++ -std=c++98 -pedantic, warnings as
 * errors) and declares what the C interface promises. */
#include "loss_kernels.h"

#if LK_VERSION != LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH
#error "LK_VERSION does not match its parts"
#endif

typedef LkStatus (*PointwiseFn)(const LkPointwise *, const float *, const float *, size_t, const float *,
                                uint32_t, float *, float *, LkErrorDetail *);

int header_check(void);

int header_check(void) {
    PointwiseFn f = lk_pointwise_value_and_grad;
    LkErrorDetail d;
    LkPointwise p;
    LkSoftmaxCrossEntropy s;
    LkCtc c;
    const char *name = lk_status_str(LK_STATUS_OK);
    int codes[11];
    codes[0] = LK_STATUS_OK;
    codes[1] = LK_STATUS_LENGTH_MISMATCH;
    codes[2] = LK_STATUS_ZERO_SIZE;
    codes[3] = LK_STATUS_NOT_DIVISIBLE;
    codes[4] = LK_STATUS_EMPTY_BATCH;
    codes[5] = LK_STATUS_OUT_OF_RANGE;
    codes[6] = LK_STATUS_INVALID_PARAMETER;
    codes[7] = LK_STATUS_WORKSPACE_TOO_SMALL;
    codes[8] = LK_STATUS_BLANK_IN_LABEL;
    codes[9] = LK_STATUS_NULL_POINTER;
    codes[10] = LK_STATUS_INVALID_ENUM;
    p.kind = LK_POINTWISE_KIND_LOG_COSH;
    p.flags = LK_POISSON_LOG_INPUT | LK_POISSON_FULL;
    c.blank = LK_CTC_BLANK_LAST;
    s.classes = 2;
    d.argument[LK_ERROR_ARGUMENT_LEN - 1] = 0;
    d.message[LK_ERROR_MESSAGE_LEN - 1] = 0;
    (void)lk_pointwise_per_sample;
    (void)lk_softmax_cross_entropy;
    (void)lk_kl_divergence;
    (void)lk_triplet;
    (void)lk_cosine_embedding;
    (void)lk_ctc_value_and_grad;
    (void)lk_ctc_per_sample;
    (void)lk_ctc_workspace_len;
    (void)lk_ctc_value_workspace_len;
    return (f != 0) + (name != 0) + codes[10] + (int)p.kind + (int)(c.blank & 1u) + (int)s.classes +
           LK_REDUCTION_SUM + LK_REDUCTION_MEAN + (int)lk_version() + d.argument[LK_ERROR_ARGUMENT_LEN - 1];
}
