/* main.c — tollctl entry point; everything else is in libtgcli.a so the
 * unit tests can link it. */
#include "cli.h"

int
main(int argc, char **argv)
{
	return tollctl_main(argc, argv);
}
