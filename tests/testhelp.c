/*
 * testhelp.c — real-process test helpers (see testhelp.h).
 *
 * The registry of spawned pids is per test process: Check forks each test, so
 * each test kills only what it started.
 */
#include "testhelp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "format.h"
#include "freeport.h"
#include "sha256.h"
#include "timeutil.h"

#define TH_MAX_PROCS 64

static pid_t th_procs[TH_MAX_PROCS];
static int th_nprocs;
static int th_atexit_set;

/* A port nothing listens on now, below the ephemeral range, and not one this
 * process handed out before (freeport hands ports out in turn), so two sites
 * set up before either starts never share one (see freeport.h). */
int th_free_port(void)
{
	return freeport_one();
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

const char *th_bin(const char *name)
{
	static __thread char bufs[4][1024];
	static __thread int slot;
	char *b = bufs[slot++ % 4];
	snprintf(b, 1024, "%s/%s", env_or("DRORCH_BUILDDIR", "."), name);
	return b;
}

const char *th_drsite_bin(const char *version)
{
	static __thread char bufs[4][1024];
	static __thread int slot;
	if (!version || !*version)
		return th_bin("drsite");
	char name[64];
	snprintf(name, sizeof(name), "drsite-%s", version);
	const char *path = th_bin(name);
	if (access(path, X_OK) == 0) {
		char *b = bufs[slot++ % 4];
		snprintf(b, 1024, "%s", path);
		return b;
	}
	if (!strcmp(version, DRSITE_VERSION))
		return th_bin("drsite");
	fprintf(stderr, "testhelp: no drsite binary for version %s: no %s, and drsite is %s\n",
		version, path, DRSITE_VERSION);
	return NULL;
}

const char *th_src(const char *rel)
{
	static __thread char bufs[4][1024];
	static __thread int slot;
	char *b = bufs[slot++ % 4];
	snprintf(b, 1024, "%s/%s", env_or("DRORCH_SRCDIR", "."), rel);
	return b;
}

char *th_mkdtemp(const char *prefix)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s.XXXXXX", env_or("TMPDIR", "/tmp"), prefix) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void th_rmrf(const char *dir)
{
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void th_register(pid_t pid)
{
	if (!th_atexit_set) {
		atexit(th_cleanup);
		th_atexit_set = 1;
	}
	if (th_nprocs < TH_MAX_PROCS)
		th_procs[th_nprocs++] = pid;
}

static void th_forget(pid_t pid)
{
	for (int i = 0; i < th_nprocs; i++)
		if (th_procs[i] == pid) {
			th_procs[i] = th_procs[--th_nprocs];
			return;
		}
}

pid_t th_spawn(char *const argv[], const char *logfile)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (logfile) {
			int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	th_register(pid);
	return pid;
}

int th_run_copies(const char *name, const char *const values[])
{
	enum { MAX_COPIES = 8 };
	pid_t pid[MAX_COPIES];
	int n = 0, failed = 0;
	for (; values[n] && n < MAX_COPIES; n++) {
		pid[n] = fork();
		if (pid[n] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			setenv(name, values[n], 1);
			execl("/proc/self/exe", "/proc/self/exe", (char *)NULL);
			_exit(127);
		}
		if (pid[n] < 0)
			failed = 1;
	}
	for (int k = 0; k < n; k++) {
		int st;
		if (pid[k] > 0 && (waitpid(pid[k], &st, 0) != pid[k] || !WIFEXITED(st) ||
				   WEXITSTATUS(st) != 0))
			failed = 1;
	}
	return values[n] ? 1 : failed;  /* more than MAX_COPIES: a mistake */
}

/* The cases th_tcase made, for th_run_case_copies. */
enum { TH_MAX_CASES = 16 };
static struct {
	const char *name;
	int wave;
} th_cases[TH_MAX_CASES];
static int th_ncases, th_nwaves;
static bool th_cases_overflow;

TCase *th_tcase(Suite *s, const char *name, int wave, int timeout_s, SFun setup, SFun teardown)
{
	TCase *tc = tcase_create(name);
	if (timeout_s > 0)
		tcase_set_timeout(tc, timeout_s);
	if (setup)
		tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	if (th_ncases < TH_MAX_CASES) {
		th_cases[th_ncases].name = name;
		th_cases[th_ncases++].wave = wave;
		if (wave + 1 > th_nwaves)
			th_nwaves = wave + 1;
	} else {
		th_cases_overflow = true;
	}
	return tc;
}

int th_run_case_copies(Suite *s)
{
	srunner_free(srunner_create(s));  /* the runner owns s; nothing runs here */
	int failed = th_cases_overflow || th_ncases == 0;
	for (int w = 0; w < th_nwaves; w++) {
		const char *names[TH_MAX_CASES + 1];
		int n = 0;
		for (int i = 0; i < th_ncases; i++)
			if (th_cases[i].wave == w)
				names[n++] = th_cases[i].name;
		names[n] = NULL;
		if (n && th_run_copies("CK_RUN_CASE", names))
			failed = 1;
	}
	return failed;
}

int th_wait_exit(pid_t pid, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			th_forget(pid);
			return r == pid ? status : 0;
		}
		if (time_mono_ms() >= deadline)
			return -1;
		time_sleep_ms(5);
	}
}

int th_kill(pid_t pid, int sig, long timeout_ms)
{
	if (pid <= 0 || kill(pid, sig) != 0)
		return -1;
	if (sig != SIGKILL && sig != SIGTERM)
		return 0;
	return th_wait_exit(pid, timeout_ms);
}

void th_cleanup(void)
{
	while (th_nprocs > 0) {
		pid_t pid = th_procs[th_nprocs - 1];
		kill(pid, SIGKILL);
		if (th_wait_exit(pid, 5000) < 0)
			th_forget(pid);
	}
}

bool th_pid_gone(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return !paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X';
}

int th_lab_pids(const char *dir, pid_t *pids, int max)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/lab.json", dir);
	json_t *j = json_load_file(path, 0, NULL);
	if (!j)
		return -1;
	int n = 0;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(j, "procs"), i, p)
		if (n < max)
			pids[n++] = (pid_t)json_integer_value(json_object_get(p, "pid"));
	json_decref(j);
	return n;
}

/* Each thread's client, kept between requests so that they reuse a kept-alive
 * connection: a fresh connection per request costs drsite a thread (one per
 * connection), which the sanitizer build pays dearly for.  A forked test
 * child gets a client of its own (pid). */
struct th_client {
	struct httpc *c;
	pid_t pid;
};

static pthread_key_t client_key;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_free(void *p)
{
	struct th_client *tc = p;
	httpc_free(tc->c);
	free(tc);
}

static void client_key_make(void)
{
	if (pthread_key_create(&client_key, client_free) != 0)
		abort();
}

static struct httpc *thread_client(void)
{
	pthread_once(&client_once, client_key_make);
	struct th_client *tc = pthread_getspecific(client_key);
	if (tc && tc->pid != getpid()) {
		client_free(tc);
		tc = NULL;
	}
	if (!tc) {
		tc = calloc(1, sizeof(*tc));
		if (!tc || !(tc->c = httpc_new())) {
			free(tc);
			return NULL;
		}
		tc->pid = getpid();
		pthread_setspecific(client_key, tc);
	}
	return tc->c;
}

long th_http(const char *method, const char *url, const char *bearer,
	     const void *body, size_t len, char **body_out, size_t *len_out)
{
	struct httpc *c = thread_client();
	if (!c)
		return 0;
	struct httpc_resp r;
	char err[256];
	long status = 0;
	if (httpc_request(c, method, url, bearer, body, len, 5000, &r, err, sizeof(err)) == 0) {
		status = r.status;
		if (body_out) {
			*body_out = r.body;
			r.body = NULL;
		}
		if (len_out)
			*len_out = r.body_len;
		httpc_resp_free(&r);
	}
	return status;
}

/* The header line th_site_admin_at_term's request carries (ctx). */
static bool term_line(void *ctx, char *line, size_t len)
{
	snprintf(line, len, "X-Drorch-Term: %s", (const char *)ctx);
	return true;
}

/* method url with the bearer token, body and X-Drorch-Term: term (as given),
 * on the handle th_http sends on. */
static long http_at_term(const char *term, const char *method, const char *url,
			 const char *token, const char *body, char **out)
{
	struct httpc *c = thread_client();
	if (out)
		*out = NULL;
	if (!c)
		return 0;
	httpc_set_header(c, term_line, (void *)term);
	long status = th_http(method, url, token, body, body ? strlen(body) : 0, out, NULL);
	httpc_set_header(c, NULL, NULL);
	return status;
}

long th_site_admin_at_term(const struct th_site *s, const char *term, const char *cmd,
			   const char *body, char **out)
{
	char url[512];
	snprintf(url, sizeof(url), "%s/v1/admin/%s", s->base, cmd);
	return http_at_term(term, "POST", url, TH_TOKEN, body, out);
}

long th_site_status_at_term(const struct th_site *s, const char *token, const char *term)
{
	char url[512];
	snprintf(url, sizeof(url), "%s/v1/status", s->base);
	return http_at_term(term, "GET", url, token, NULL, NULL);
}

bool th_wait_http(const char *url, long status, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		if (th_http("GET", url, NULL, NULL, 0, NULL, NULL) == status)
			return true;
		time_sleep_ms(20);
	}
	return false;
}

bool th_drlink_start(const char *dir, char *admin, size_t len)
{
	char listen[64], log[700], url[128];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", th_free_port());
	snprintf(admin, len, "http://%s", listen);
	snprintf(log, sizeof(log), "%s/drlink.log", dir);
	char *argv[] = { (char *)th_bin("drlink"), "--admin", listen, NULL };
	if (th_spawn(argv, log) <= 0)
		return false;
	snprintf(url, sizeof(url), "%s/v1/links", admin);
	return th_wait_http(url, 200, 10000);
}

long th_link_add(const char *admin, const char *name, const char *listen,
		 const char *upstream)
{
	char body[256], url[160];
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"listen\":\"%s\",\"upstream\":\"%s\"}",
		 name, listen, upstream);
	snprintf(url, sizeof(url), "%s/v1/links", admin);
	return th_http("POST", url, NULL, body, strlen(body), NULL, NULL);
}

long th_link_set(const char *admin, const char *name, const char *conditions)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/v1/links/%s/conditions", admin, name);
	return th_http("PUT", url, NULL, conditions, strlen(conditions), NULL, NULL);
}

/* th_dir_digest's walk: one line per entry (nftw has no user argument). */
static struct {
	const char *root;
	char **lines;
	size_t n, cap;
	bool failed;
} digest;

static int digest_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	const char *rel = path + strlen(digest.root);
	char hex[SHA256_HEX_SIZE] = "-";
	if (!strcmp(rel, "/LOCK"))
		return 0;  /* the pid of the last drsite that opened the dir */
	if (flag == FTW_F) {
		size_t len = 0;
		char *data = th_read_file(path, &len);
		uint8_t d[SHA256_DIGEST_SIZE];
		if (!data) {
			digest.failed = true;
			return 1;
		}
		sha256(data, len, d);
		sha256_hex(d, hex);
		free(data);
	}
	if (digest.n == digest.cap) {
		size_t cap = digest.cap ? digest.cap * 2 : 64;
		char **nl = realloc(digest.lines, cap * sizeof(*nl));
		if (!nl) {
			digest.failed = true;
			return 1;
		}
		digest.lines = nl;
		digest.cap = cap;
	}
	if (asprintf(&digest.lines[digest.n], "%s%s %lld %s", *rel ? rel : ".",
		     flag == FTW_D ? "/" : "", flag == FTW_F ? (long long)sb->st_size : 0LL, hex) < 0) {
		digest.failed = true;
		return 1;
	}
	digest.n++;
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *th_dir_digest(const char *dir)
{
	memset(&digest, 0, sizeof(digest));
	digest.root = dir;
	int rc = nftw(dir, digest_entry, 16, FTW_PHYS);
	char *out = NULL;
	size_t len = 0;
	FILE *f = rc == 0 && !digest.failed ? open_memstream(&out, &len) : NULL;
	if (f)
		qsort(digest.lines, digest.n, sizeof(*digest.lines), cmp_lines);
	for (size_t i = 0; i < digest.n; i++) {
		if (f)
			fprintf(f, "%s\n", digest.lines[i]);
		free(digest.lines[i]);
	}
	free(digest.lines);
	memset(&digest, 0, sizeof(digest));
	if (f && fclose(f) == 0)
		return out;
	if (f)
		free(out);
	return NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *th_wal_magics(const char *datadir)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/wal", datadir);
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char *names[4096];
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < 4096;) {
		size_t len = strlen(e->d_name);
		char *name = len > 4 && !strcmp(e->d_name + len - 4, ".wal") ? strdup(e->d_name) : NULL;
		if (name)
			names[n++] = name;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);  /* 20-digit names: LSN order */
	char *out = calloc(1, n * 9 + 1);
	for (size_t i = 0; i < n; i++) {
		char path[900], magic[9] = "";
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (out && (fd < 0 || read(fd, magic, 8) != 8)) {
			free(out);
			out = NULL;
		}
		if (fd >= 0)
			close(fd);
		if (out)
			strcat(strcat(out, magic), " ");
		free(names[i]);
	}
	return out;
}

char *th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

size_t th_value_for(const char *key, char *buf, size_t cap)
{
	size_t klen = strlen(key), n = 16 + (klen * 37 + (unsigned char)key[klen - 1]) % 200;
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(key[i % klen] ^ (char)i);
	return n;
}

/* ---- real drsite processes ------------------------------------------------- */

void th_site_init(struct th_site *s, const char *root, const char *name)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->data, sizeof(s->data), "%s/%s", root, name);
	snprintf(s->log, sizeof(s->log), "%s/%s.log", root, name);
	snprintf(s->token_file, sizeof(s->token_file), "%s/token", root);
	int port = th_free_port();
	snprintf(s->listen, sizeof(s->listen), "127.0.0.1:%d", port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", port);
	FILE *f = fopen(s->token_file, "w");
	if (f) {
		fprintf(f, "%s\n", TH_TOKEN);
		fclose(f);
	}
}

bool th_site_start(struct th_site *s, const char *const extra[])
{
	const char *bin = th_drsite_bin(s->version);
	if (!bin)
		return false;
	char *argv[32] = { (char *)bin, "--name", s->name, "--listen", s->listen,
			   "--data", s->data, "--token-file", s->token_file };
	int n = 9;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	s->pid = th_spawn(argv, s->log);
	char url[128];
	snprintf(url, sizeof(url), "%s/healthz", s->base);
	uint64_t deadline = time_mono_ms() + 10000;
	while (s->pid > 0 && time_mono_ms() < deadline) {
		char *body = NULL;
		long code = th_http("GET", url, NULL, NULL, 0, &body, NULL);
		json_t *j = code == 200 ? json_loads(body ? body : "", 0, NULL) : NULL;
		const char *name = json_string_value(json_object_get(j, "name"));
		bool mine = name && strcmp(name, s->name) == 0;  /* not another site on its port */
		json_decref(j);
		free(body);
		if (mine)
			return true;
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			th_forget(s->pid);  /* it refused to start: no need to wait longer */
			s->pid = -1;
			return false;
		}
		time_sleep_ms(20);
	}
	return false;
}

bool th_site_swap(struct th_site *s, const char *version, const char *const extra[])
{
	if (s->pid > 0)
		th_kill(s->pid, SIGTERM, 10000);
	snprintf(s->version, sizeof(s->version), "%s", version ? version : "");
	return th_site_start(s, extra);
}

long th_site_req(const struct th_site *s, const char *method, const char *path, bool admin,
		 const void *body, size_t len, char **out, size_t *outlen)
{
	char url[2048];
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	return th_http(method, url, admin ? TH_TOKEN : NULL, body, len, out, outlen);
}

long th_site_role(const struct th_site *s, const char *role, int epoch,
		  const struct th_site *primary, const char *mode, int quorum)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"role\":\"%s\",\"epoch\":%d,\"primary\":\"%s\","
		 "\"mode\":\"%s\",\"quorum\":%d}", role, epoch, primary ? primary->listen : "",
		 mode, quorum);
	return th_site_req(s, "POST", "/v1/admin/role", true, body, strlen(body), NULL, NULL);
}

/* The name of the newest segment in dir (zero-padded: the greatest). */
static bool newest_segment(const char *dir, char *name, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	name[0] = '\0';
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".wal") && strcmp(e->d_name, name) > 0)
			snprintf(name, len, "%s", e->d_name);
	}
	if (d)
		closedir(d);
	return name[0] != '\0';
}

long th_site_flip_wal(const struct th_site *s, double at, unsigned char bit)
{
	char dir[700], seg[256], path[1000];
	snprintf(dir, sizeof(dir), "%s/wal", s->data);
	if (!newest_segment(dir, seg, sizeof(seg)))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, seg);
	int fd = open(path, O_RDWR);
	struct stat sb;
	unsigned char c;
	off_t off = 0;
	bool ok = fd >= 0 && fstat(fd, &sb) == 0 &&
		  (off = (off_t)((double)sb.st_size * at), pread(fd, &c, 1, off) == 1) &&
		  (c ^= bit, pwrite(fd, &c, 1, off) == 1);
	if (fd >= 0)
		close(fd);
	return ok ? (long)sb.st_size : -1;
}

long long th_site_status_int(const struct th_site *s, const char *obj, const char *field)
{
	char *body = NULL;
	if (th_site_req(s, "GET", "/v1/status", false, NULL, 0, &body, NULL) != 200) {
		free(body);
		return -1;
	}
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	json_t *o = obj ? json_object_get(j, obj) : j;
	long long v = json_integer_value(json_object_get(o, field));
	json_decref(j);
	return v;
}

const char *th_site_status_str(const struct th_site *s, const char *field, char *buf, size_t len)
{
	char *body = NULL;
	buf[0] = '\0';
	if (th_site_req(s, "GET", "/v1/status", false, NULL, 0, &body, NULL) == 200) {
		json_t *j = json_loads(body, 0, NULL);
		const char *v = json_string_value(json_object_get(j, field));
		snprintf(buf, len, "%s", v ? v : "");
		json_decref(j);
	}
	free(body);
	return buf;
}

bool th_site_wait_status(const struct th_site *s, const char *needle, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	bool found = false;
	while (!found && time_mono_ms() < deadline) {
		char *body = NULL;
		th_site_req(s, "GET", "/v1/status", false, NULL, 0, &body, NULL);
		found = body && strstr(body, needle);
		free(body);
		if (!found)
			time_sleep_ms(50);
	}
	return found;
}

long th_site_put(const struct th_site *s, const char *key)
{
	char path[256], val[512];
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	size_t n = th_value_for(key, val, sizeof(val));
	return th_site_req(s, "PUT", path, false, val, n, NULL, NULL);
}

bool th_site_has(const struct th_site *s, const char *key)
{
	char path[256], want[512];
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	size_t n = th_value_for(key, want, sizeof(want)), got_len = 0;
	char *got = NULL;
	long st = th_site_req(s, "GET", path, false, NULL, 0, &got, &got_len);
	bool ok = st == 200 && got_len == n && memcmp(got, want, n) == 0;
	free(got);
	return ok;
}

/* ---- real etcd clusters ------------------------------------------------------ */

const char *th_etcd_path(void)
{
	const char *p = getenv("DRORCH_ETCD");
	return p && *p ? p : "/usr/bin/etcd";
}

/* Spawns member i with its arguments (see struct th_etcd_member). */
static pid_t etcd_spawn(struct th_etcd *c, int i)
{
	struct th_etcd_member *m = &c->m[i];
	char *argv[] = { (char *)th_etcd_path(), "--name", m->name, "--data-dir", m->data,
		"--listen-client-urls", m->client, "--advertise-client-urls", m->client,
		"--listen-peer-urls", m->peer, "--initial-advertise-peer-urls", m->peer,
		"--initial-cluster", c->cluster, "--initial-cluster-state", "new",
		"--initial-cluster-token", c->token,
		"--heartbeat-interval", "50", "--election-timeout", "500", NULL };
	m->pid = th_spawn(argv, m->log);
	return m->pid;
}

/* Waits until member i answers {"health":"true"} or exits, or deadline. */
static bool etcd_wait_healthy(struct th_etcd *c, int i, uint64_t deadline)
{
	struct th_etcd_member *m = &c->m[i];
	char url[128];
	snprintf(url, sizeof(url), "%s/health", m->client);
	while (m->pid > 0 && time_mono_ms() < deadline) {
		char *body = NULL;
		long code = th_http("GET", url, NULL, NULL, 0, &body, NULL);
		bool healthy = code == 200 && body && strstr(body, "\"health\":\"true\"");
		free(body);
		if (healthy)
			return true;
		int st;
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			th_forget(m->pid);
			m->pid = -1;
			break;
		}
		time_sleep_ms(20);
	}
	fprintf(stderr, "testhelp: etcd %s (%s) is not healthy; see %s\n", m->name, m->client,
		m->log);
	return false;
}

static void etcd_layout(const char *dir, int i, struct th_etcd *c)
{
	struct th_etcd_member *m = &c->m[i];
	snprintf(m->name, sizeof(m->name), "m%d", i);
	snprintf(m->client, sizeof(m->client), "http://127.0.0.1:%d", th_free_port());
	snprintf(m->peer, sizeof(m->peer), "http://127.0.0.1:%d", th_free_port());
	snprintf(m->data, sizeof(m->data), "%s/%s.etcd", dir, m->name);
	snprintf(m->log, sizeof(m->log), "%s/%s.log", dir, m->name);
	m->pid = -1;
	c->endpoints[i] = m->client;
	size_t used = strlen(c->cluster);
	snprintf(c->cluster + used, sizeof(c->cluster) - used, "%s%s=%s", i ? "," : "", m->name,
		 m->peer);
}

bool th_etcd_start(const char *dir, int members, struct th_etcd *out)
{
	memset(out, 0, sizeof(*out));
	if (members < 1 || members > TH_ETCD_MAX)
		return false;
	out->n = members;
	snprintf(out->token, sizeof(out->token), "th-etcd-%d", (int)getpid());
	for (int i = 0; i < members; i++)
		etcd_layout(dir, i, out);
	for (int i = 0; i < members; i++)
		if (etcd_spawn(out, i) < 0)
			return false;
	uint64_t deadline = time_mono_ms() + 10000;
	for (int i = 0; i < members; i++)
		if (!etcd_wait_healthy(out, i, deadline))
			return false;
	return true;
}

bool th_etcd_kill_member(struct th_etcd *c, int i, int sig)
{
	struct th_etcd_member *m = &c->m[i];
	if (m->pid <= 0 || th_kill(m->pid, sig, 5000) < 0)
		return false;
	if (sig == SIGKILL || sig == SIGTERM)
		m->pid = -1;
	return true;
}

bool th_etcd_start_member(struct th_etcd *c, int i)
{
	return c->m[i].pid <= 0 && etcd_spawn(c, i) > 0 &&
	       etcd_wait_healthy(c, i, time_mono_ms() + 10000);
}

void th_etcd_stop(struct th_etcd *c)
{
	for (int i = 0; i < c->n; i++)
		if (c->m[i].pid > 0)
			th_etcd_kill_member(c, i, SIGKILL);
}

/* ---- headless Chromium ------------------------------------------------------------ */

const char *th_chromium_path(void)
{
	const char *p = getenv("DRORCH_CHROMIUM");
	return p && *p ? p : "/usr/bin/chromium";
}

/* In the child: its own group, dies with the test, stdout and stderr to files. */
static void chromium_child(pid_t parent, const char *out, const char *log, char *const argv[])
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (o < 0 || e < 0)
		_exit(127);
	dup2(o, STDOUT_FILENO);
	dup2(e, STDERR_FILENO);
	close(o);
	close(e);
	execv(argv[0], argv);
	_exit(127);
}

int th_chromium(const char *dir, const char *tag, const char *const extra[], const char *url,
		long timeout_ms, char *err, size_t errlen)
{
	enum { MAX_ARGS = 32 };
	char udd[700], out[700], log[700];
	snprintf(udd, sizeof(udd), "--user-data-dir=%s/chromium-profile-%s", dir, tag);
	snprintf(out, sizeof(out), "%s/chromium-%s.out", dir, tag);
	snprintf(log, sizeof(log), "%s/chromium-%s.log", dir, tag);
	const char *argv[MAX_ARGS] = { th_chromium_path(), "--headless", "--no-sandbox",
		"--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", udd };
	int n = 11;
	for (int i = 0; extra && extra[i] && n < MAX_ARGS - 2; i++)
		argv[n++] = extra[i];
	argv[n++] = url;
	argv[n] = NULL;
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		chromium_child(parent, out, log, (char *const *)argv);
	setpgid(pid, pid);  /* also from here: no race with the kill below */
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	siginfo_t info = { 0 };
	bool exited = false;
	/* WNOWAIT: the leader stays a zombie, so its pid, which is the group's
	 * id, cannot be reused before the group is killed. */
	while (!(exited = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			  info.si_pid == pid) && time_mono_ms() < deadline)
		time_sleep_ms(20);
	kill(-pid, SIGKILL);  /* the renderer, zygote and utility processes too */
	int status = 0;
	waitpid(pid, &status, 0);
	if (!exited) {
		snprintf(err, errlen, "chromium did not finish within %ld ms; killed; see %s",
			 timeout_ms, log);
		return -1;
	}
	snprintf(err, errlen, "chromium: wait status %d; see %s", status, log);
	return status;
}
