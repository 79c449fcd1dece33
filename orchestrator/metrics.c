#include "metrics.h"
void metrics_orch(struct orch *o, struct http_resp *resp)
{
	(void)o;
	http_resp_error(resp, 404, "metrics: being written");
}
