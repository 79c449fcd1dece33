/* Fuzz target: drlink's admin input (sites/drlink/linkbody.c, sites/drlink/link.c): the
 * bytes as a conditions body and a POST /v1/links body, each then checked
 * as drlink checks it, and as a partition, a direction and a link name. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "link.h"
#include "linkbody.h"

static void as_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256];
	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	enum link_partition p;
	unsigned dirs;
	link_partition_parse(s, &p, err, sizeof(err));
	link_direction_parse(s, &dirs, err, sizeof(err));
	link_name_check(s, err, sizeof(err));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	json_t *j = http_body_json((const char *)data, size, err, sizeof(err));
	if (j) {
		struct link_cond_update u;
		const char *val[3] = { NULL, NULL, NULL };
		if (linkbody_conditions(j, &u, err, sizeof(err)) == 0)
			link_cond_update_check(&u, err, sizeof(err));
		if (linkbody_link(j, val, err, sizeof(err)) == 0)
			link_name_check(val[0], err, sizeof(err));
		json_decref(j);
	}
	as_text(data, size);
	return 0;
}
