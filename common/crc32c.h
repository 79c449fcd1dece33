/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of every WAL record and
 * snapshot entry.  Uses SSE4.2's crc32 instruction when the CPU has it and a
 * slicing-by-8 table otherwise; both give identical results.
 *
 * crc32c(0, "123456789", 9) == 0xE3069283 (the standard check value).
 */
#ifndef DRORCH_CRC32C_H
#define DRORCH_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over buf[0..len). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
