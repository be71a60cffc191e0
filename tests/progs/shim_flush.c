/*
 * shim_flush — call tollgate_flush_spool() of the preloaded shim and print
 * what it returned (records acknowledged, or -1). Exits 0 when it was not
 * -1, 1 otherwise, 2 without the shim.
 */
#include <stdio.h>

#include "shim_report.h"

int
main(void)
{
	int (*flush)(void) = (int (*)(void))dlsym(RTLD_DEFAULT,
	    "tollgate_flush_spool");
	int n;

	if (flush == NULL)
		return 2;
	n = flush();
	printf("flushed %d\n", n);
	return n < 0;
}
