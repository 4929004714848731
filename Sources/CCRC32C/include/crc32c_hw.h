#ifndef RIVULET_CRC32C_HW_H
#define RIVULET_CRC32C_HW_H
#include <stddef.h>
#include <stdint.h>

/// Returns 1 when the CPU has the SSE4.2 CRC32 instruction, 0 otherwise.
int crc32c_hw_available(void);

/// Extends a CRC-32C (Castagnoli) `crc` over `len` bytes at `buf` with the SSE4.2 instruction.
/// `crc` is the finished value of the previous chunk (0 to start). Only call when available.
uint32_t crc32c_hw(uint32_t crc, const uint8_t *buf, size_t len);

#endif
