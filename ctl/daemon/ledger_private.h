/*
 * ledger_private.h — what the ledger_*.c files share, and the migration
 * mechanism exposed for its unit test. Not for other modules: they use
 * ledger.h.
 */
#ifndef TG_LEDGER_PRIVATE_H
#define TG_LEDGER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct ledger {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *ins_record;
};

/* One schema step: running `sql` on a database at version to - 1 brings it
 * to version `to`. Steps are listed in order, starting at to = 1. */
struct ledger_step {
	int to;
	const char *sql;
};

/* The steps of this build (ledger_schema.c). */
extern const struct ledger_step ledger_steps[];
extern const size_t ledger_nsteps;

/* Bring db from its PRAGMA user_version up to the last of steps, in one
 * IMMEDIATE transaction. A version newer than the last step is refused
 * ("... schema version N is newer than this tollgated knows (M) ..."). */
int ledger_migrate(sqlite3 *db, const char *name,
    const struct ledger_step *steps, size_t nsteps, char *err, size_t errlen);

/* tag_value(tags, name): the value of name in "k=v,k2=v2", or NULL. */
int ledger_register_functions(sqlite3 *db);
/* tg_sum(x): an overflow-safe sum() for reports (ledger_report.c). */
int ledger_report_functions(sqlite3 *db);

#define LEDGER_NS_PER_HOUR 3600000000000LL
#define LEDGER_NS_PER_DAY (24 * LEDGER_NS_PER_HOUR)

#endif
