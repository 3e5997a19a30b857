/* The built-in CSAT scorer re-expressed as a plugin, to show the ABI gives
 * a survey scorer everything it needs: top-2-box share of scored CSAT
 * responses, on the resolved scale (one scale per window in this test). */
#include <string.h>

#include "rapport_plugin.h"

static const rp_str CONSUMES[] = {RP_STR("survey_response")};
static const rp_slot SLOTS[] = {{RP_SLOT_COUNT, 0}, {RP_SLOT_COUNT, 0}};
static const rp_metric_spec METRICS[] = {
    {RP_STR("csat_plugin"), RP_STR("CSAT computed by a plugin."), RP_STR("percent"), 1, 1, 0.0, 100.0, NULL, 0},
};
static const rp_plugin_info INFO = {RP_STR("csat_plugin"), RP_STR("1"), CONSUMES, 1, NULL, 0, SLOTS, 2, METRICS, 1};
static int tag;

static int is(rp_str s, const char *literal) {
    size_t n = strlen(literal);
    return s.len == n && memcmp(s.ptr, literal, n) == 0;
}

static int32_t create(rp_str config, void **instance, const rp_error_sink *error) {
    (void)config;
    (void)error;
    *instance = &tag;
    return RP_OK;
}

static const rp_plugin_info *info(void *instance) {
    (void)instance;
    return &INFO;
}

static int32_t observe(void *instance, const rp_event *event, const rp_observer *out, const rp_error_sink *error) {
    (void)instance;
    (void)error;
    int csat = 0, has_score = 0, has_max = 0;
    double score = 0, max = 0;
    for (size_t i = 0; i < event->attributes_len; i++) {
        if (is(event->attributes[i].key, "kind") && is(event->attributes[i].value, "csat")) csat = 1;
    }
    for (size_t i = 0; i < event->values_len; i++) {
        if (is(event->values[i].name, "score")) has_score = 1, score = event->values[i].value;
        if (is(event->values[i].name, "scale_max")) has_max = 1, max = event->values[i].value;
    }
    if (!csat || !has_score) return RP_OK;
    if (!has_max) {
        rp_str message = RP_STR("csat response without a resolved scale");
        error->set(error->ctx, message);
        return RP_ERROR;
    }
    out->count(out->ctx, 0);
    if (score >= max - 1) out->count(out->ctx, 1);
    return RP_OK;
}

static int32_t evaluate(void *instance, uint32_t metric, const rp_window *window, rp_metric_value *value,
                        const rp_value_sink *sink, const rp_error_sink *error) {
    (void)instance;
    (void)metric;
    (void)sink;
    (void)error;
    uint64_t n = window->count(window->ctx, 0), top2 = window->count(window->ctx, 1);
    value->count = n;
    value->has_value = n > 0;
    value->value = n > 0 ? 100.0 * (double)top2 / (double)n : 0.0;
    return RP_OK;
}

static void destroy(void *instance) { (void)instance; }

static const rp_plugin_v1 TABLE = {RP_PLUGIN_V1_HEADER, create, info, observe, evaluate, destroy};

const rp_plugin_v1 *rapport_plugin_v1(void) { return &TABLE; }
