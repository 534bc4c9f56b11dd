/*
 * libFuzzer's start-up hook, one for every harness (fuzz_*.c): allocate
 * as the daemon does (xmalloc.h), and take no token from the environment,
 * so that what a harness parses depends on its input alone.
 */
#include <stdlib.h>

#include "base/xmalloc.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmalloc_install();
	unsetenv("NEUPRINT_APPLICATION_CREDENTIALS");
	unsetenv("NEUPRINT_TOKEN");
	return 0;
}
