/* What a local attacker would swap in for a plugin: its constructor runs
 * at dlopen, before any ABI check, and leaves a mark (the file named by
 * HIJACK_MARK) to prove it ran inside the loading process. */
#include <stdio.h>

#include "rapport_plugin.h"

#ifndef HIJACK_MARK
#error "compile with -DHIJACK_MARK=\"/path/of/the/mark\""
#endif

__attribute__((constructor)) static void hijack(void) {
    FILE *mark = fopen(HIJACK_MARK, "w");
    if (mark) {
        fputs("the attacker's code ran in the loading process\n", mark);
        fclose(mark);
    }
}

static const rp_plugin_v1 TABLE = {RP_PLUGIN_V1_HEADER, 0, 0, 0, 0, 0};

const rp_plugin_v1 *rapport_plugin_v1(void) { return &TABLE; }
