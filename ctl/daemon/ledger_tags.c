/*
 * ledger_tags.c — SQL function tag_value(tags, name), so reports can group
 * by "tag:NAME". tags is "k=v,k2=v2" (TOLLGATE_TAGS syntax); the result is
 * the value of the first pair whose key is name, or NULL when there is none
 * (or it is empty). Pure and deterministic, so SQLite may cache it.
 */
#include "ledger_private.h"

#include <string.h>

static void
tag_value(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *tags, *name, *p, *end, *eq;
	size_t nlen;

	tags = (const char *)sqlite3_value_text(argv[0]);
	name = (const char *)sqlite3_value_text(argv[1]);
	if (tags == NULL || name == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	nlen = strlen(name);
	for (p = tags; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', end - p);
		if (eq == NULL || (size_t)(eq - p) != nlen ||
		    memcmp(p, name, nlen) != 0)
			continue;
		if (end - eq - 1 == 0)
			break;
		sqlite3_result_text(ctx, eq + 1, end - eq - 1, SQLITE_TRANSIENT);
		return;
	}
	sqlite3_result_null(ctx);
}

int
ledger_register_functions(sqlite3 *db)
{
	if (sqlite3_create_function(db, "tag_value", 2,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, tag_value, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	return ledger_report_functions(db);
}
