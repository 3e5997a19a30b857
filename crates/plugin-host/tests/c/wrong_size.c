/* A version-1 plugin built against a header whose table had another size. */
#include "rapport_plugin.h"

static const rp_plugin_v1 TABLE = {RP_ABI_VERSION, (uint32_t)sizeof(rp_plugin_v1) - 8u, 0, 0, 0, 0, 0, 0, 0, 0, 0};

const rp_plugin_v1 *rapport_plugin_v1(void) { return &TABLE; }
