/*
 * procmetrics.h — the metrics every drorch daemon exports besides its own:
 * drorch_build_info and the standard process_* family of the Prometheus
 * client libraries (CPU, memory, descriptors, threads, start time), read
 * from /proc/self.  Appended to a struct prom (histo.h) by each daemon's
 * /metrics handler.
 */
#ifndef DRORCH_PROCMETRICS_H
#define DRORCH_PROCMETRICS_H

struct prom;

/* drorch_build_info{daemon,version,package} 1: version is the daemon's own
 * (a drsite's binary version), package drorch's release. */
void prom_build_info(struct prom *p, const char *daemon, const char *version);

/* process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_threads and process_start_time_seconds; a value /proc does not
 * give is left out, never made up. */
void prom_process(struct prom *p);

#endif
