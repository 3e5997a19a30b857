/*
 * rapport scorer plugin ABI, version 1.
 *
 * A plugin is a shared library exporting one function:
 *
 *     const rp_plugin_v1 *rapport_plugin_v1(void);
 *
 * returning a pointer to a static, immutable function table. The host reads
 * abi_version and struct_size first and refuses the library unless they
 * match, then checks the other sizes, then calls create().
 *
 * Rules (the Rust definitions in src/abi.rs are the same, checked by test):
 *  - Strings are borrowed UTF-8 views (ptr, len), not NUL-terminated; a view
 *    passed into a call is valid only until that call returns.
 *  - Neither side frees memory the other allocated. The rp_plugin_info a
 *    plugin returns stays valid until destroy().
 *  - Every function returns RP_OK or an error code, with a message given
 *    through the call's rp_error_sink. No exception or unwinding crosses.
 *  - observe() and evaluate() may run concurrently on several threads for
 *    one instance: keep no mutable state; the host's accumulators hold it.
 *  - destroy() is called once, after every other call has returned.
 */
#ifndef RAPPORT_PLUGIN_H
#define RAPPORT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RP_ABI_VERSION 1u
#define RP_ENTRY_SYMBOL "rapport_plugin_v1"

#define RP_OK 0
#define RP_ERROR 1
#define RP_PANIC 2

#define RP_SLOT_COUNT 0u
#define RP_SLOT_MOMENTS 1u
#define RP_SLOT_MIN 2u
#define RP_SLOT_MAX 3u
#define RP_SLOT_TOP_K 4u

typedef struct rp_str {
    const uint8_t *ptr;
    size_t len;
} rp_str;

typedef struct rp_pair {
    rp_str key;
    rp_str value;
} rp_pair;

typedef struct rp_named_value {
    rp_str name;
    double value;
} rp_named_value;

/* A survey response (type "survey_response") carries attributes "kind" and
 * "comment", and values "score" (absent when skipped), "scale_min" and
 * "scale_max" (the declared scale, else the tenant's default for the kind). */
typedef struct rp_event {
    rp_str type_name;
    rp_str id;
    rp_str account_id;
    int64_t time_ms;
    const rp_pair *labels;
    size_t labels_len;
    const rp_named_value *values;
    size_t values_len;
    const rp_pair *attributes;
    size_t attributes_len;
} rp_event;

typedef struct rp_observer {
    void *ctx;
    void (*count)(void *ctx, uint32_t slot);
    void (*record)(void *ctx, uint32_t slot, double value);
    void (*item)(void *ctx, uint32_t slot, rp_str item);
} rp_observer;

typedef void (*rp_top_k_each)(void *each_ctx, rp_str item, uint64_t count, uint64_t error);

typedef struct rp_window {
    void *ctx;
    uint64_t (*count)(void *ctx, uint32_t slot);
    void (*moments)(void *ctx, uint32_t slot, uint64_t *count, double *sum, double *sum_sq);
    int32_t (*min)(void *ctx, uint32_t slot, double *out);
    int32_t (*max)(void *ctx, uint32_t slot, double *out);
    size_t (*top_k)(void *ctx, uint32_t slot, size_t k, rp_top_k_each each, void *each_ctx);
    uint64_t (*top_k_total)(void *ctx, uint32_t slot);
} rp_window;

typedef struct rp_metric_value {
    int32_t has_value;
    uint32_t reserved;
    double value;
    uint64_t count;
} rp_metric_value;

typedef struct rp_value_sink {
    void *ctx;
    void (*interval)(void *ctx, rp_str method, double low, double high, double confidence);
    void (*detail)(void *ctx, rp_str name, double value);
} rp_value_sink;

typedef struct rp_error_sink {
    void *ctx;
    void (*set)(void *ctx, rp_str message);
} rp_error_sink;

typedef struct rp_slot {
    uint32_t kind;
    uint32_t capacity;
} rp_slot;

typedef struct rp_metric_spec {
    rp_str name;
    rp_str description;
    rp_str unit;
    int32_t has_min;
    int32_t has_max;
    double min;
    double max;
    const rp_str *group_by;
    size_t group_by_len;
} rp_metric_spec;

typedef struct rp_plugin_info {
    rp_str name;
    rp_str version;
    const rp_str *consumes;
    size_t consumes_len;
    const rp_str *dimensions;
    size_t dimensions_len;
    const rp_slot *slots;
    size_t slots_len;
    const rp_metric_spec *metrics;
    size_t metrics_len;
} rp_plugin_info;

typedef struct rp_header {
    uint32_t abi_version;
    uint32_t struct_size;
} rp_header;

typedef struct rp_plugin_v1 {
    uint32_t abi_version;       /* RP_ABI_VERSION */
    uint32_t struct_size;       /* sizeof(rp_plugin_v1) */
    uint32_t event_size;        /* sizeof(rp_event) */
    uint32_t metric_value_size; /* sizeof(rp_metric_value) */
    uint32_t info_size;         /* sizeof(rp_plugin_info) */
    uint32_t window_size;       /* sizeof(rp_window) */
    int32_t (*create)(rp_str config, void **instance, const rp_error_sink *error);
    const rp_plugin_info *(*info)(void *instance);
    int32_t (*observe)(void *instance, const rp_event *event, const rp_observer *out, const rp_error_sink *error);
    int32_t (*evaluate)(void *instance, uint32_t metric, const rp_window *window, rp_metric_value *value,
                        const rp_value_sink *sink, const rp_error_sink *error);
    void (*destroy)(void *instance);
} rp_plugin_v1;

/* Fills the size fields of a table; use in a static initializer. */
#define RP_PLUGIN_V1_HEADER                                                                        \
    RP_ABI_VERSION, (uint32_t)sizeof(rp_plugin_v1), (uint32_t)sizeof(rp_event),                    \
        (uint32_t)sizeof(rp_metric_value), (uint32_t)sizeof(rp_plugin_info), (uint32_t)sizeof(rp_window)

/* A view of a string literal or NUL-terminated string. */
#define RP_STR(s) ((rp_str){(const uint8_t *)(s), sizeof(s) - 1})

const rp_plugin_v1 *rapport_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* RAPPORT_PLUGIN_H */
