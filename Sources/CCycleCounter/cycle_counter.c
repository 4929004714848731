#include "cycle_counter.h"

const char *rivulet_cycle_counter_clocksource(void) {
#if defined(__x86_64__)
    return "tsc";
#elif defined(__aarch64__)
    return "arch_sys_counter";
#else
    return "";
#endif
}
