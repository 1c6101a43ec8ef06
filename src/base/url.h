/*
 * url.h — where a provider URL points, for privacy tiers: whether content
 * sent there stays on this machine.
 */
#ifndef POS_BASE_URL_H
#define POS_BASE_URL_H

#include <stdbool.h>

/*
 * True when `url` is empty (a built-in provider: nothing is sent), its host
 * is loopback (localhost, 127.x.x.x, ::1), or the host is named in `list`,
 * a comma- or space-separated list of host names compared without case.
 * A URL whose host cannot be read is not local.
 */
bool pos_url_is_local(const char *url, const char *list);

#endif
