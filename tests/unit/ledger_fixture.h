/* ledger_fixture.h — the fixture the ledger test binaries share: one temp
 * directory per binary (cmocka group setup/teardown) and a fresh ledger
 * file per test. A header of static definitions on purpose: each
 * tests/unit/test_*.c builds alone into its own binary, so there is no
 * object to share. */
#ifndef LEDGER_FIXTURE_H
#define LEDGER_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "ledger.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define T0 (1757030400LL * SEC) /* 2025-09-05T00:00:00Z */

static char dir[] = "/tmp/test_ledger.XXXXXX";
static char path[PATH_MAX]; /* the file open_new() opened last */
static int dbno;

static int
setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh database file name per test. */
static const char *
new_path(void)
{
	snprintf(path, sizeof(path), "%s/ledger%d.db", dir, ++dbno);
	return path;
}

static struct ledger *
open_new(void)
{
	char err[512] = "";
	struct ledger *lg = ledger_open(new_path(), err, sizeof(err));

	if (lg == NULL)
		fail_msg("ledger_open: %s", err);
	return lg;
}

#endif
