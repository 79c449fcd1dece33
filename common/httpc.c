/*
 * httpc.c — the libcurl client wrapper (see httpc.h).
 */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct httpc {
	CURL *curl;
	bool not_delivered;        /* the last request never reached the server */
	bool (*give_up)(void *ctx);   /* httpc_set_give_up */
	void *give_up_ctx;
	bool (*header)(void *ctx, char *line, size_t len);  /* httpc_set_header */
	void *header_ctx;
};

struct sink {
	char *buf;
	size_t len;
	size_t cap;
	int oom;
};

int httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

struct httpc *httpc_new(void)
{
	struct httpc *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	return c;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (!nb) {
			s->oom = 1;
			return 0;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/* Header lines: a new status line (an interim 1xx answer ended) starts over. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		s->len = 0;
	return on_data(ptr, size, nmemb, userdata) == n ? n : 0;
}

/* Appends line to h; NULL (h freed) when out of memory. */
static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);
	if (!n)
		curl_slist_free_all(h);
	return n;
}

static struct curl_slist *build_headers(const struct httpc *c, const char *bearer, int has_body)
{
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	char line[1024];
	if (h && has_body)
		h = add_header(h, "Content-Type: application/octet-stream");
	if (h && bearer) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer);
		h = add_header(h, line);
	}
	if (h && bearer && c->header && c->header(c->header_ctx, line, sizeof(line)))
		h = add_header(h, line);
	return h;
}

void httpc_set_header(struct httpc *c, bool (*header)(void *ctx, char *line, size_t len),
		      void *ctx)
{
	c->header = header;
	c->header_ctx = ctx;
}

void httpc_set_give_up(struct httpc *c, bool (*give_up)(void *ctx), void *ctx)
{
	c->give_up = give_up;
	c->give_up_ctx = ctx;
}

/* libcurl's progress callback: nonzero aborts the transfer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct httpc *c = userdata;
	return c->give_up(c->give_up_ctx) ? 1 : 0;
}

int httpc_request(struct httpc *c, const char *method, const char *url,
		  const char *bearer, const void *body, size_t body_len,
		  long timeout_ms, struct httpc_resp *out, char *err, size_t errlen)
{
	struct sink s = { 0 }, h = { 0 };
	memset(out, 0, sizeof(*out));
	if (c->give_up && c->give_up(c->give_up_ctx)) {
		c->not_delivered = true;
		snprintf(err, errlen, "%s %s: not sent: given up before it started", method, url);
		return -1;
	}
	struct curl_slist *hdrs = build_headers(c, bearer, body != NULL);
	if (!hdrs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	CURL *k = c->curl;
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, &h);
	if (c->give_up) {
		curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(k, CURLOPT_XFERINFODATA, c);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	CURLcode rc = curl_easy_perform(k);
	curl_slist_free_all(hdrs);
	c->not_delivered = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
	if (rc != CURLE_OK || s.oom || h.oom) {
		snprintf(err, errlen, "%s %s: %s", method, url,
			 s.oom || h.oom ? "out of memory" : curl_easy_strerror(rc));
		free(s.buf);
		free(h.buf);
		return -1;
	}
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &out->status);
	if (!s.buf) {
		s.buf = calloc(1, 1);
		if (!s.buf) {
			snprintf(err, errlen, "out of memory");
			free(h.buf);
			return -1;
		}
	}
	out->body = s.buf;
	out->body_len = s.len;
	out->headers = h.buf;
	return 0;
}

void httpc_resp_free(struct httpc_resp *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->headers);
	r->body = NULL;
	r->headers = NULL;
	r->body_len = 0;
}

bool httpc_resp_header(const struct httpc_resp *r, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	for (const char *line = r->headers; line && *line; ) {
		const char *end = strchr(line, '\n');
		size_t llen = end ? (size_t)(end - line) : strlen(line);
		if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (v < line + llen && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(line + llen - v);
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			if (vlen >= len)
				return false;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		line = end ? end + 1 : line + llen;
	}
	return false;
}

bool httpc_not_delivered(const struct httpc *c)
{
	return c->not_delivered;
}
