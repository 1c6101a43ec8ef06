/*
 * egress.h — the egress policy: which addresses the server may open
 * outbound connections to.
 *
 * A server that fetches URLs its users give it (ICS feeds, CalDAV, IMAP,
 * later plugins) must not become a proxy into the network it stands in:
 * loopback, private ranges, link-local (169.254.169.254, the cloud metadata
 * service), CGNAT, multicast and reserved addresses are refused unless the
 * operator allows them in `egress_allow`. The check runs on the resolved
 * address of every connection (net/http.c calls it from curl's socket-open
 * callback), so DNS rebinding and redirects cannot bypass it.
 *
 * Allowlist syntax (`egress_allow`, comma- or space-separated):
 *   HOST            a host name as written in URLs (any port)
 *   HOST:PORT       that host name on that port
 *   CIDR / IP       an address range, e.g. 10.0.0.0/8, 192.168.1.5, fd00::/8
 *   CIDR:PORT       an IPv4 range on one port, e.g. 127.0.0.1:8025
 *   [V6CIDR]:PORT   an IPv6 range on one port, e.g. [::1]:993, [fd00::/8]:443
 * Host names match the name the URL (or IMAP config) gives, case-insensitive;
 * addresses and ranges match the resolved address.
 *
 * Thread-safety: a policy is immutable after pos_egress_new; any number of
 * threads may check against it at once.
 */
#ifndef POS_NET_EGRESS_H
#define POS_NET_EGRESS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "base/err.h"

#define POS_EGRESS_ENTRIES_MAX 64
#define POS_EGRESS_SPEC_MAX 4096 /* bytes of an egress_allow value */

struct pos_egress;

/*
 * Parses `allow` (NULL or "" = nothing beyond public addresses) into a new
 * policy the caller frees with pos_egress_free. Errors: POS_ERR_USAGE with a
 * message naming the bad entry, POS_ERR_NOMEM.
 */
enum pos_err pos_egress_new(const char *allow, struct pos_egress **out,
			    struct pos_error *err);
void pos_egress_free(struct pos_egress *e);

/*
 * True when `sa` (AF_INET or AF_INET6) is a public unicast address: not
 * loopback, unspecified, 0/8, RFC 1918, link-local, CGNAT, multicast,
 * broadcast/reserved (240/4), documentation/benchmark ranges, IPv6 ULA,
 * site-local, the NAT64 prefixes, nor an IPv4-mapped/compatible or 6to4
 * form of a refused IPv4 address. Anything else (other families) is not.
 */
bool pos_egress_addr_public(const struct sockaddr *sa);

/*
 * The policy decision for one connection: to address `sa` (its port
 * included) for a URL whose host name is `host` (NULL when unknown). True
 * when the address is public or an allowlist entry of `e` (NULL: none)
 * matches the host name or the address, and the port where the entry names
 * one.
 */
bool pos_egress_allows(const struct pos_egress *e, const char *host,
		       const struct sockaddr *sa);

#endif
