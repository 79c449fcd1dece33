/* decimal.c — strict unsigned decimal numbers (decimal.h). */
#include "decimal.h"

#include <stdbool.h>
#include <stddef.h>

int decimal_u64(const char *text, uint64_t *out)
{
	if (!text || !*text)
		return DECIMAL_BAD;
	uint64_t v = 0;
	bool range = false;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return DECIMAL_BAD;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			range = true;  /* keep looking: a non-digit later is BAD */
		else
			v = v * 10 + d;
	}
	if (range)
		return DECIMAL_RANGE;
	*out = v;
	return DECIMAL_OK;
}

int decimal_u64_in(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc = decimal_u64(text, &v);
	if (rc != DECIMAL_OK)
		return rc;
	if (v < min || v > max)
		return DECIMAL_RANGE;
	*out = v;
	return DECIMAL_OK;
}
