/*
 * chttp.c — drchaos's own libcurl client (see chttp.h).
 */
#include "chttp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct chttp {
	CURL *curl;
};

int chttp_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

struct chttp *chttp_new(void)
{
	struct chttp *c = calloc(1, sizeof(*c));
	if (c && !(c->curl = curl_easy_init())) {
		free(c);
		return NULL;
	}
	return c;
}

void chttp_free(struct chttp *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

void chttp_ans_free(struct chttp_ans *a)
{
	free(a->body);
	a->body = NULL;
	a->len = 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct chttp_ans *a = arg;
	size_t add = size * n;
	char *b = realloc(a->body, a->len + add + 1);
	if (!b)
		return 0;  /* curl reports a write error */
	memcpy(b + a->len, data, add);
	a->len += add;
	b[a->len] = '\0';
	a->body = b;
	return add;
}

/* The value of header line `line` when it is `name: value`, trimmed. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	if (len <= n + 1 || strncasecmp(line, name, n) || line[n] != ':')
		return -1;
	const char *v = line + n + 1;
	size_t vlen = len - n - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	snprintf(out, outlen, "%.*s", (int)vlen, v);
	return 0;
}

/* One answer being read: the answer, and its Location header. */
struct reading {
	struct chttp_ans *a;
	char location[sizeof(((struct chttp_ans *)0)->url)];
};

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct reading *rd = arg;
	struct chttp_ans *a = rd->a;
	size_t len = size * n;
	char v[64];
	if (header_value(data, len, "X-Drorch-Primary", a->primary_hint, sizeof(a->primary_hint)) &&
	    header_value(data, len, "Location", rd->location, sizeof(rd->location)) &&
	    header_value(data, len, "X-Drorch-Lsn", v, sizeof(v)) == 0)
		a->lsn_header = strtoll(v, NULL, 10);
	return len;
}

/* One request, no redirect followed; *location gets a Location header. */
static int request_once(struct chttp *c, const char *method, const char *url, const char *bearer,
			const void *body, size_t len, long timeout_ms, struct chttp_ans *a,
			char *location, size_t loclen)
{
	struct reading rd = { .a = a };
	location[0] = '\0';
	memset(a, 0, sizeof(*a));
	a->lsn_header = -1;
	snprintf(a->url, sizeof(a->url), "%s", url);
	CURL *h = c->curl;
	curl_easy_reset(h);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	char auth[300];
	if (bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");  /* no proxy, and no proxy variables read */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &rd);
	if (!strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? len : 0));
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		snprintf(a->err, sizeof(a->err), "%s", curl_easy_strerror(rc));
		a->not_sent = rc == CURLE_COULDNT_CONNECT;
		chttp_ans_free(a);
		a->status = 0;
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	snprintf(location, loclen, "%s", rd.location);
	return 0;
}

int chttp_do(struct chttp *c, const char *method, const char *url, const char *bearer,
	     const void *body, size_t len, long timeout_ms, struct chttp_ans *a)
{
	char location[sizeof(a->url)], next[sizeof(a->url)];
	int rc = request_once(c, method, url, bearer, body, len, timeout_ms, a, location,
			      sizeof(location));
	for (int hops = 0; rc == 0 && (a->status == 307 || a->status == 308) &&
	     !strncmp(location, "http://", 7) && hops < CHTTP_MAX_REDIRECTS; hops++) {
		snprintf(next, sizeof(next), "%s", location);
		chttp_ans_free(a);
		rc = request_once(c, method, next, bearer, body, len, timeout_ms, a, location,
				  sizeof(location));
		a->redirects = hops + 1;
	}
	return rc;
}
