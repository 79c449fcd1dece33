/*
 * procmetrics.c — drorch_build_info and process_* (see procmetrics.h).
 */
#include "procmetrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "histo.h"

void prom_build_info(struct prom *p, const char *daemon, const char *version)
{
	char d[64], v[64], labels[256];
	prom_label_escape(daemon, d, sizeof(d));
	prom_label_escape(version, v, sizeof(v));
	snprintf(labels, sizeof(labels), "daemon=\"%s\",version=\"%s\",package=\"%s\"", d, v,
		 PACKAGE_VERSION);
	prom_family(p, "drorch_build_info", "gauge",
		    "1, labelled with the daemon, its version and drorch's release.");
	prom_value(p, "drorch_build_info", labels, 1);
}

/* Fields of /proc/self/stat after the command (field 3 on), NUL-separated
 * in place; the number of fields, 0 if unreadable. */
static int stat_fields(char *buf, size_t len, char **f, int max)
{
	FILE *fp = fopen("/proc/self/stat", "r");
	if (!fp)
		return 0;
	size_t n = fread(buf, 1, len - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	char *s = strrchr(buf, ')');  /* the command may hold spaces */
	int k = 0;
	for (char *save = NULL, *t = s ? strtok_r(s + 1, " \n", &save) : NULL; t && k < max;
	     t = strtok_r(NULL, " \n", &save))
		f[k++] = t;
	return k;
}

/* Seconds since the Unix epoch at boot, from /proc/stat's btime; 0 unknown. */
static double boot_time(void)
{
	FILE *fp = fopen("/proc/stat", "r");
	char line[256];
	double bt = 0;
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "btime %lf", &bt) == 1)
			break;
	if (fp)
		fclose(fp);
	return bt;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;  /* the descriptor opendir holds */
}

static void gauge(struct prom *p, const char *name, const char *type, const char *help,
		  double v)
{
	prom_family(p, name, type, help);
	prom_value(p, name, "", v);
}

void prom_process(struct prom *p)
{
	char buf[1024], *f[64];
	/* Field numbers of proc(5) minus 3: utime 14, stime 15, threads 20,
	 * starttime 22, vsize 23, rss 24. */
	int n = stat_fields(buf, sizeof(buf), f, 64);
	double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	if (n > 21 && tick > 0) {
		gauge(p, "process_cpu_seconds_total", "counter",
		      "Total user and system CPU time spent in seconds.",
		      (strtod(f[11], NULL) + strtod(f[12], NULL)) / tick);
		gauge(p, "process_threads", "gauge", "Number of OS threads in the process.",
		      strtod(f[17], NULL));
		gauge(p, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
		      strtod(f[20], NULL));
		gauge(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
		      strtod(f[21], NULL) * page);
		double bt = boot_time();
		if (bt > 0)
			gauge(p, "process_start_time_seconds", "gauge",
			      "Start time of the process since unix epoch in seconds.",
			      bt + strtod(f[19], NULL) / tick);
	}
	int fds = open_fds();
	if (fds >= 0)
		gauge(p, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		gauge(p, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
		      (double)rl.rlim_cur);
}
