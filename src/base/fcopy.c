/*
 * fcopy.c — see fcopy.h.
 */
#include "base/fcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FCOPY_BUF 16384 /* on the stack: backups run on the CLI's thread */

enum pos_err pos_fcopy(int in, const char *from, const char *to, uint64_t *bytes,
		       struct pos_error *err)
{
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", to,
				     strerror(errno));
	enum pos_err rc = POS_OK;
	char buf[FCOPY_BUF];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
					   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = pos_error_set(err,
						   errno == ENOSPC ? POS_ERR_NO_SPACE : POS_ERR_IO,
						   NULL, "cannot write %s: %s", to, strerror(errno));
				goto out;
			}
			off += w;
		}
		if (bytes)
			*bytes += (uint64_t)n;
	}
	if (fsync(out) != 0)
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot sync %s: %s", to,
				   strerror(errno));
out:
	close(out);
	return rc;
}
