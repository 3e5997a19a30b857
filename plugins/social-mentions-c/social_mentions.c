/*
 * Social mentions, as docs/metrics.md defines them: a rapport scorer plugin in
 * plain C, built against rapport_plugin.h alone.
 *
 * Consumes `mention` custom events:
 *   attributes: channel (required; the plugin's dimension), sentiment
 *               (positive, neutral or negative; required)
 *   values:     reach (optional, >= 0: people who could see the mention)
 *
 * Metrics, per channel or overall:
 *   mentions                        mentions in the window
 *   positive_mention_share          positive / all, percent, Wilson interval
 *   net_sentiment                   % positive - % negative, NPS-style
 *                                   standard-error interval
 *   reach_weighted_positive_share   reach of positive mentions / reach of
 *                                   mentions that report reach, percent
 *
 * Build: cc -std=c11 -O2 -shared -fPIC -I crates/plugin-api/include \
 *            -o libsocial_mentions.so social_mentions.c -lm
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rapport_plugin.h"

enum { MENTIONS, POSITIVE, NEGATIVE, REACH_ALL, REACH_POSITIVE, SLOT_COUNT };
enum { M_MENTIONS, M_POSITIVE_SHARE, M_NET_SENTIMENT, M_REACH_WEIGHTED, METRIC_COUNT };

static const rp_str CONSUMES[] = {RP_STR("mention")};
static const rp_str DIMENSIONS[] = {RP_STR("channel")};
static const rp_str GROUP_BY[] = {RP_STR("channel")};
static const rp_slot SLOTS[SLOT_COUNT] = {
    {RP_SLOT_COUNT, 0}, {RP_SLOT_COUNT, 0}, {RP_SLOT_COUNT, 0}, {RP_SLOT_MOMENTS, 0}, {RP_SLOT_MOMENTS, 0},
};
static const rp_metric_spec METRICS[METRIC_COUNT] = {
    {RP_STR("mentions"), RP_STR("Mentions on social media and the company's own site."), RP_STR("count"), 1, 0,
     0.0, 0.0, GROUP_BY, 1},
    {RP_STR("positive_mention_share"), RP_STR("Share of mentions with positive sentiment, in percent."),
     RP_STR("percent"), 1, 1, 0.0, 100.0, GROUP_BY, 1},
    {RP_STR("net_sentiment"), RP_STR("Percent positive minus percent negative mentions."), RP_STR("points"), 1, 1,
     -100.0, 100.0, GROUP_BY, 1},
    {RP_STR("reach_weighted_positive_share"),
     RP_STR("Reach of positive mentions over reach of all mentions reporting reach, in percent."),
     RP_STR("percent"), 1, 1, 0.0, 100.0, GROUP_BY, 1},
};
/* Builds may stamp their own version: -DSOCIAL_MENTIONS_VERSION='"1.2.0"'. */
#ifndef SOCIAL_MENTIONS_VERSION
#define SOCIAL_MENTIONS_VERSION "1.0.0"
#endif

static const rp_plugin_info INFO = {
    RP_STR("social_mentions"), RP_STR(SOCIAL_MENTIONS_VERSION), CONSUMES, 1, DIMENSIONS, 1, SLOTS, SLOT_COUNT, METRICS, METRIC_COUNT,
};

/* The plugin keeps no state: every instance is this one object. */
static int instance_tag;

static void fail(const rp_error_sink *error, const char *message) {
    if (error && error->set) {
        rp_str text = {(const uint8_t *)message, strlen(message)};
        error->set(error->ctx, text);
    }
}

static int equals(rp_str s, const char *literal) {
    size_t n = strlen(literal);
    return s.len == n && (n == 0 || memcmp(s.ptr, literal, n) == 0);
}

static const rp_str *attribute(const rp_event *event, const char *name) {
    for (size_t i = 0; i < event->attributes_len; i++) {
        if (equals(event->attributes[i].key, name)) return &event->attributes[i].value;
    }
    return NULL;
}

static const double *value(const rp_event *event, const char *name) {
    for (size_t i = 0; i < event->values_len; i++) {
        if (equals(event->values[i].name, name)) return &event->values[i].value;
    }
    return NULL;
}

static int32_t create(rp_str config, void **instance, const rp_error_sink *error) {
    (void)config;
    (void)error;
    *instance = &instance_tag;
    return RP_OK;
}

static const rp_plugin_info *info(void *instance) {
    (void)instance;
    return &INFO;
}

static int32_t observe(void *instance, const rp_event *event, const rp_observer *out, const rp_error_sink *error) {
    (void)instance;
    const rp_str *channel = attribute(event, "channel");
    const rp_str *sentiment = attribute(event, "sentiment");
    const double *reach = value(event, "reach");
    if (!channel || channel->len == 0) {
        fail(error, "mention has no channel");
        return RP_ERROR;
    }
    int positive = sentiment && equals(*sentiment, "positive");
    int negative = sentiment && equals(*sentiment, "negative");
    if (!sentiment || !(positive || negative || equals(*sentiment, "neutral"))) {
        fail(error, "mention sentiment must be positive, neutral or negative");
        return RP_ERROR;
    }
    if (reach && *reach < 0) {
        fail(error, "mention reach is negative");
        return RP_ERROR;
    }
    out->count(out->ctx, MENTIONS);
    if (positive) out->count(out->ctx, POSITIVE);
    if (negative) out->count(out->ctx, NEGATIVE);
    if (reach) {
        out->record(out->ctx, REACH_ALL, *reach);
        if (positive) out->record(out->ctx, REACH_POSITIVE, *reach);
    }
    return RP_OK;
}

static double clamp(double x, double low, double high) { return x < low ? low : (x > high ? high : x); }

static void interval(const rp_value_sink *sink, const char *method, double low, double high, double lo, double hi) {
    rp_str name = {(const uint8_t *)method, strlen(method)};
    sink->interval(sink->ctx, name, clamp(low, lo, hi), clamp(high, lo, hi), 0.95);
}

static void detail(const rp_value_sink *sink, const char *name, double v) {
    rp_str text = {(const uint8_t *)name, strlen(name)};
    sink->detail(sink->ctx, text, v);
}

static int32_t evaluate(void *instance, uint32_t metric, const rp_window *window, rp_metric_value *result,
                        const rp_value_sink *sink, const rp_error_sink *error) {
    (void)instance;
    const double z = 1.96;
    uint64_t n = window->count(window->ctx, MENTIONS);
    uint64_t pos = window->count(window->ctx, POSITIVE);
    uint64_t neg = window->count(window->ctx, NEGATIVE);
    result->has_value = 0;
    result->count = n;
    if (n == 0 && metric < METRIC_COUNT) return RP_OK;
    double nf = (double)n, p = (double)pos / nf, d = (double)neg / nf;
    switch (metric) {
    case M_MENTIONS:
        result->has_value = 1;
        result->value = nf;
        return RP_OK;
    case M_POSITIVE_SHARE: {
        double z2 = z * z, denominator = 1.0 + z2 / nf;
        double center = (p + z2 / (2.0 * nf)) / denominator;
        double half = z / denominator * sqrt(p * (1.0 - p) / nf + z2 / (4.0 * nf * nf));
        result->has_value = 1;
        result->value = 100.0 * p;
        interval(sink, "wilson", 100.0 * (center - half), 100.0 * (center + half), 0.0, 100.0);
        detail(sink, "positive", (double)pos);
        return RP_OK;
    }
    case M_NET_SENTIMENT: {
        double score = 100.0 * (p - d);
        double se = 100.0 * sqrt((p + d - (p - d) * (p - d)) / nf);
        result->has_value = 1;
        result->value = score;
        interval(sink, "standard_error", score - z * se, score + z * se, -100.0, 100.0);
        detail(sink, "positive_pct", 100.0 * p);
        detail(sink, "negative_pct", 100.0 * d);
        return RP_OK;
    }
    case M_REACH_WEIGHTED: {
        uint64_t with_reach = 0, positive_count = 0;
        double all = 0, all_sq = 0, positive = 0, positive_sq = 0;
        window->moments(window->ctx, REACH_ALL, &with_reach, &all, &all_sq);
        window->moments(window->ctx, REACH_POSITIVE, &positive_count, &positive, &positive_sq);
        result->count = with_reach;
        if (all <= 0) return RP_OK;
        result->has_value = 1;
        result->value = 100.0 * positive / all;
        detail(sink, "positive_reach", positive);
        detail(sink, "total_reach", all);
        return RP_OK;
    }
    default: {
        char message[64];
        snprintf(message, sizeof message, "no metric number %u", (unsigned)metric);
        fail(error, message);
        return RP_ERROR;
    }
    }
}

static void destroy(void *instance) { (void)instance; }

static const rp_plugin_v1 TABLE = {RP_PLUGIN_V1_HEADER, create, info, observe, evaluate, destroy};

const rp_plugin_v1 *rapport_plugin_v1(void) { return &TABLE; }
