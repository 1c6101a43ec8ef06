/*
 * mailfile.h — config checks shared by the file kinds of src/sync (mbox,
 * maildir). Internal to src/sync.
 */
#ifndef POS_SYNC_MAILFILE_H
#define POS_SYNC_MAILFILE_H

#include <jansson.h>
#include <string.h>

#include "base/err.h"

#define POS_SYNC_PATH_MAX 4096

/* config.path: a path of 1..4096 bytes without NUL. Whether it must be
 * relative (API users) or may be absolute (the operator) is the service's
 * check, and the open itself is confined (sync/fsroot.h). */
static inline enum pos_err pos_mailfile_check_path(const json_t *config,
						   struct pos_error *err)
{
	const json_t *v = json_object_get(config, "path");
	if (!v)
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "config.path",
				     "config.path is required");
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!s || n == 0 || n > POS_SYNC_PATH_MAX || strlen(s) != n)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.path",
				     "config.path must be a path of at most 4096 bytes");
	return POS_OK;
}

#endif
