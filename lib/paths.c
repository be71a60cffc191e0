/* paths.c — see paths.h. */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
fmt(char *buf, size_t size, const char *f, const char *a, const char *b)
{
	int n = snprintf(buf, size, f, a, b);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* secure_getenv: these paths are also read inside setuid programs (the
 * shim), where the environment is the caller's and must not choose them. */
static const char *
env_nonempty(const char *name)
{
	const char *v = secure_getenv(name);
	return (v && *v) ? v : NULL;
}

static const char *
home_dir(void)
{
	const char *h = env_nonempty("HOME");
	return h ? h : "/";
}

int
tg_path_socket(char *buf, size_t size)
{
	const char *v = env_nonempty("TOLLGATE_SOCKET");
	char uid[16];

	if (v)
		return fmt(buf, size, "%s%s", v, "");
	if (geteuid() == 0)
		return fmt(buf, size, "%s%s", "/run/tollgate/tollgate.sock", "");
	if ((v = env_nonempty("XDG_RUNTIME_DIR")))
		return fmt(buf, size, "%s%s", v, "/tollgate/tollgate.sock");
	snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
	return fmt(buf, size, "/tmp/tollgate-%s%s", uid, "/tollgate.sock");
}

int
tg_path_state_dir(char *buf, size_t size)
{
	const char *v = env_nonempty("TOLLGATE_STATE_DIR");

	if (v)
		return fmt(buf, size, "%s%s", v, "");
	if (geteuid() == 0)
		return fmt(buf, size, "%s%s", "/var/lib/tollgate", "");
	if ((v = env_nonempty("XDG_STATE_HOME")))
		return fmt(buf, size, "%s%s", v, "/tollgate");
	return fmt(buf, size, "%s%s", home_dir(), "/.local/state/tollgate");
}

int
tg_path_spool_dir(char *buf, size_t size)
{
	const char *v = env_nonempty("TOLLGATE_SPOOL_DIR");
	char state[PATH_MAX];

	if (v)
		return fmt(buf, size, "%s%s", v, "");
	if (tg_path_state_dir(state, sizeof(state)) < 0)
		return -1;
	return fmt(buf, size, "%s%s", state, "/spool");
}

int
tg_path_policy(char *buf, size_t size)
{
	const char *v;

	if (geteuid() == 0)
		return fmt(buf, size, "%s%s", TG_DEFAULT_POLICY, "");
	if ((v = env_nonempty("XDG_CONFIG_HOME")))
		return fmt(buf, size, "%s%s", v, "/tollgate/policy.json");
	return fmt(buf, size, "%s%s", home_dir(), "/.config/tollgate/policy.json");
}

int
tg_path_prices(char *buf, size_t size)
{
	static const char *rel[] = { "/../share/tollgate/prices.json",
		"/../policies/prices.json" };
	const char *v = env_nonempty("TOLLGATE_PRICES");
	char exe[PATH_MAX];
	ssize_t n;

	if (v)
		return fmt(buf, size, "%s%s", v, "");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (fmt(buf, size, "%s%s", exe, rel[i]) == 0 &&
		    access(buf, R_OK) == 0)
			return 0;
	}
	return -1;
}

int
tg_mkdirs(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}
