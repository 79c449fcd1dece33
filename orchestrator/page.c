#include "page.h"
void page_status(struct http_resp *resp)
{
	http_resp_error(resp, 404, "status page: being written");
}
