#include "crc32c_hw.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

int crc32c_hw_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}

// Three independent streams hide the 3-cycle latency of the crc32 instruction; they are
// merged with a shift-by-zeros table computed once. For short inputs a single stream is used.
__attribute__((target("sse4.2")))
static uint64_t crc32c_hw_stream(uint64_t c, const uint8_t *buf, size_t len) {
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, buf, 8);
        c = _mm_crc32_u64(c, v);
        buf += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = _mm_crc32_u8(c32, *buf++);
    return c32;
}

// Multiplication in GF(2) modulo the reflected Castagnoli polynomial, for combining streams.
static uint32_t gf2_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {
        if (b & 0x80000000u) product ^= a;
        b <<= 1;
        a = (a >> 1) ^ ((a & 1) ? 0x82F63B78u : 0);
    }
    return product;
}

// x^(8*n) mod P, in the reflected representation (bit 31 is x^0).
static uint32_t x_pow_8n(size_t n) {
    uint32_t result = 0x80000000u; // x^0
    uint32_t square = 0x00800000u;  // x^8: bit (31 - 8)
    while (n) {
        if (n & 1) result = gf2_multiply(result, square);
        square = gf2_multiply(square, square);
        n >>= 1;
    }
    return result;
}

enum { BLOCK = 8192 };

__attribute__((target("sse4.2")))
uint32_t crc32c_hw(uint32_t crc, const uint8_t *buf, size_t len) {
    uint64_t c = (uint32_t)~crc;
    if (len >= 3 * BLOCK) {
        const uint32_t shift_block = x_pow_8n(BLOCK);  // a few hundred operations per call
        while (len >= 3 * BLOCK) {
            uint64_t c0 = c, c1 = 0, c2 = 0;
            const uint8_t *p0 = buf, *p1 = buf + BLOCK, *p2 = buf + 2 * BLOCK;
            for (size_t i = 0; i < BLOCK; i += 8) {
                uint64_t v0, v1, v2;
                memcpy(&v0, p0 + i, 8);
                memcpy(&v1, p1 + i, 8);
                memcpy(&v2, p2 + i, 8);
                c0 = _mm_crc32_u64(c0, v0);
                c1 = _mm_crc32_u64(c1, v1);
                c2 = _mm_crc32_u64(c2, v2);
            }
            // crc(A||B) = shift(crc(A), |B|) ^ crc0(B), with raw (non-inverted) registers.
            uint32_t merged = gf2_multiply((uint32_t)c0, shift_block) ^ (uint32_t)c1;
            merged = gf2_multiply(merged, shift_block) ^ (uint32_t)c2;
            c = merged;
            buf += 3 * BLOCK;
            len -= 3 * BLOCK;
        }
    }
    return ~(uint32_t)crc32c_hw_stream(c, buf, len);
}

#else
int crc32c_hw_available(void) { return 0; }
uint32_t crc32c_hw(uint32_t crc, const uint8_t *buf, size_t len) {
    (void)buf;
    (void)len;
    return crc;
}
#endif
