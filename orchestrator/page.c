/*
 * page.c — GET /: the status page (see page.h).
 *
 * The page is authored as orchestrator/status.html and turned into the C
 * string status_html[] at build time (orchestrator/drorchd.am: a sed rule
 * into the build directory), so the HTML stays readable and diffable and
 * nothing generated is committed.  It is served as is: all the data comes
 * from the page's own fetches of /v1/status and /v1/transitions.
 *
 * The Content-Security-Policy keeps the page self-contained: inline script
 * and style only, fetches to this origin only, no external asset of any kind.
 */
#include "page.h"

#include "orchestrator/status_html.h"

void page_status(struct http_resp *resp)
{
	http_resp_bytes(resp, 200, "text/html; charset=utf-8", status_html,
			sizeof(status_html) - 1);
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "X-Content-Type-Options", "nosniff");
	http_resp_header(resp, "Content-Security-Policy",
			 "default-src 'none'; script-src 'unsafe-inline'; "
			 "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
			 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
}
