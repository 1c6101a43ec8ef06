/*
 * registry.c — the adapters by kind. One entry per linked adapter: a kind
 * whose adapter is not in the tree yet has no entry (no weak symbols), so
 * creating a source of it is a clear "unknown kind". Add entries in your
 * own block.
 */
#include "sync/sync.h"

#include <string.h>

const struct pos_sync_adapter *const pos_sync_adapters[] = {
	/* mail */
	&pos_sync_mbox,
	&pos_sync_maildir,
	&pos_sync_imap,
	/* calendars and notes */
	&pos_sync_ics_file,
	&pos_sync_ics_url,
	&pos_sync_caldav,
	&pos_sync_markdown_dir,
	NULL,
};

const struct pos_sync_adapter *pos_sync_adapter_find(const char *kind)
{
	if (!kind)
		return NULL;
	for (size_t i = 0; pos_sync_adapters[i]; i++)
		if (strcmp(pos_sync_adapters[i]->kind, kind) == 0)
			return pos_sync_adapters[i];
	return NULL;
}
