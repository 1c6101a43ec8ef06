/*
 * main.c — the `personalos` binary: hands the command line to the CLI
 * table. Everything else lives in the modules under src/.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return pos_cli_main(argc, argv);
}
