#ifndef RIVULET_CYCLE_COUNTER_H
#define RIVULET_CYCLE_COUNTER_H
#include <stdint.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/// The CPU's constant-rate cycle counter (x86-64: TSC; arm64: the virtual counter CNTVCT_EL0), or 0
/// where there is none. Not serializing; a few nanoseconds. Only meaningful as a difference, and only
/// trusted when the kernel uses the same counter as its clock source.
static inline uint64_t rivulet_cycle_counter(void) {
#if defined(__x86_64__)
    return __rdtsc();
#elif defined(__aarch64__)
    uint64_t value;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(value));
    return value;
#else
    return 0;
#endif
}

/// The name of the kernel clock source that `rivulet_cycle_counter` reads ("tsc" or
/// "arch_sys_counter"), for comparing with /sys/devices/system/clocksource/clocksource0/current_clocksource.
const char *rivulet_cycle_counter_clocksource(void);

#endif
