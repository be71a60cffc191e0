/*
 * shim_flush — flush the preloaded shim's spool and print how many records
 * the daemon acknowledged: "flushed N". One tollgate_flush_spool() call
 * works for a bounded time (see preload/api.c), so this calls it again
 * while calls still make progress, and prints the sum. Exits 0 when the
 * first call was not -1, 1 otherwise, 2 without the shim.
 */
#include <stdio.h>

#include "shim_report.h"

int
main(void)
{
	int (*flush)(void) = (int (*)(void))dlsym(RTLD_DEFAULT,
	    "tollgate_flush_spool");
	int n, sum;

	if (flush == NULL)
		return 2;
	if ((sum = flush()) > 0)
		while ((n = flush()) > 0)
			sum += n;
	printf("flushed %d\n", sum);
	return sum < 0;
}
