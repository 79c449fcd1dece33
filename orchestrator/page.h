/*
 * page.h — the status page: GET / serves one self-contained HTML page (no
 * external assets) that shows sites, roles, lag, the FSM state and the
 * latest transitions, refreshing itself from the REST API.
 */
#ifndef DRORCH_PAGE_H
#define DRORCH_PAGE_H

#include "http.h"

void page_status(struct http_resp *resp);

#endif
