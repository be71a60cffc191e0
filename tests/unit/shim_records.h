/*
 * shim_records.h — for the shim's unit tests: records the hooks would
 * settle are caught here instead (set shim_meter_settle = catch_record);
 * the first four are kept in got[], ngot counts them all.
 */
#ifndef TEST_SHIM_RECORDS_H
#define TEST_SHIM_RECORDS_H

#include "meter.h"

static struct tg_record got[4];
static int ngot;

static int
catch_record(struct tg_record *r)
{
	if (ngot < 4)
		got[ngot] = *r;
	ngot++;
	return 0;
}

#endif
