/*
 * lebytes.h — little-endian loads and stores for the on-disk and on-wire
 * formats (WAL records, snapshots, shipping frames), which are all
 * little-endian whatever the host is.  (Not named endian.h: common/ is on
 * the include path and would shadow the system's <endian.h>.)
 */
#ifndef DRORCH_LEBYTES_H
#define DRORCH_LEBYTES_H

#include <stdint.h>

static inline void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
