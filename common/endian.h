/*
 * endian.h — little-endian loads and stores for the on-disk and on-wire
 * formats (WAL records, snapshots, shipping frames), which are all
 * little-endian whatever the host is.
 *
 * common/ is on the include path, so this file also answers the system's
 * own #include <endian.h> (glibc's <sys/types.h> has one): it passes that on
 * with #include_next, so nobody loses htole64() and friends.
 */
#include_next <endian.h>

#ifndef DRORCH_ENDIAN_H
#define DRORCH_ENDIAN_H

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
