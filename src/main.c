/*
 * main.c — the `personalos` binary: hands the command line to the CLI
 * table. Everything else lives in the modules under src/.
 */
#include <locale.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
	/*
	 * Character handling in UTF-8, whatever the environment says: the
	 * names inside uploaded zips (an Obsidian vault's "Café.md") are
	 * UTF-8, and libarchive refuses to hand over a name it cannot convert
	 * to the locale's charset (in the "C" locale, any non-ASCII one).
	 * Only LC_CTYPE: numbers and dates keep the "C" formats the API uses.
	 */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		(void)setlocale(LC_CTYPE, "C.utf8");
	return pos_cli_main(argc, argv);
}
