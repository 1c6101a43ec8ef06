/*
 * fcopy.h — a durable copy of one open file into a new one, for backups:
 * the destination is created (O_EXCL, mode 0600, never through a
 * symlink), written whole and fsynced before the call returns. Reading
 * the source (opening it, what a missing one means) stays the caller's.
 */
#ifndef POS_BASE_FCOPY_H
#define POS_BASE_FCOPY_H

#include <stdint.h>

#include "base/err.h"

/*
 * Copies the rest of `in` (read until end of file; the caller closes it)
 * into the new file `to`. `from` names the source in error messages.
 * Adds the bytes copied to *bytes when it is not NULL. POS_ERR_NO_SPACE
 * when the disk is full, POS_ERR_IO otherwise (also when `to` exists);
 * a partly written `to` is left for the caller to remove.
 */
enum pos_err pos_fcopy(int in, const char *from, const char *to, uint64_t *bytes,
		       struct pos_error *err);

#endif
