/* A library that claims to be a plugin of ABI version 99. Only the header
 * may be read: the host must refuse it before touching anything else. */
#include "rapport_plugin.h"

static const rp_plugin_v1 TABLE = {99u, (uint32_t)sizeof(rp_plugin_v1), 0, 0, 0, 0, 0, 0, 0, 0, 0};

const rp_plugin_v1 *rapport_plugin_v1(void) { return &TABLE; }
