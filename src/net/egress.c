/*
 * egress.c — the egress policy: the address classes refused by default and
 * the operator's allowlist (see egress.h).
 */
#include "net/egress.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"

#define HOST_MAX 253

struct entry {
	bool is_host;
	char host[HOST_MAX + 1];     /* lower case, no trailing dot */
	int family;                  /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;             /* bits */
	unsigned port;               /* 0 = any */
};

struct pos_egress {
	size_t n;
	struct entry e[POS_EGRESS_ENTRIES_MAX];
};

/* ---- address classes ---- */

/* True when the first `bits` bits of a and b agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool v4_public(const uint8_t a[4])
{
	static const struct {
		uint8_t net[4];
		unsigned bits;
	} deny[] = {
		{{0, 0, 0, 0}, 8},        /* "this network", 0.0.0.0 */
		{{10, 0, 0, 0}, 8},       /* RFC 1918 */
		{{100, 64, 0, 0}, 10},    /* CGNAT, RFC 6598 */
		{{127, 0, 0, 0}, 8},      /* loopback */
		{{169, 254, 0, 0}, 16},   /* link-local, cloud metadata */
		{{172, 16, 0, 0}, 12},    /* RFC 1918 */
		{{192, 0, 0, 0}, 24},     /* IETF protocol assignments */
		{{192, 0, 2, 0}, 24},     /* TEST-NET-1 */
		{{192, 88, 99, 0}, 24},   /* 6to4 relay anycast */
		{{192, 168, 0, 0}, 16},   /* RFC 1918 */
		{{198, 18, 0, 0}, 15},    /* benchmarking */
		{{198, 51, 100, 0}, 24},  /* TEST-NET-2 */
		{{203, 0, 113, 0}, 24},   /* TEST-NET-3 */
		{{224, 0, 0, 0}, 4},      /* multicast */
		{{240, 0, 0, 0}, 4},      /* reserved, broadcast */
	};
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
		if (prefix_eq(a, deny[i].net, deny[i].bits))
			return false;
	return true;
}

static bool v6_public(const uint8_t a[16])
{
	static const uint8_t zero[16] = {0};
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
	static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
	static const uint8_t sixtofour[2] = {0x20, 0x02};
	static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};

	/* ::/96 holds ::, ::1 and the IPv4-compatible forms; ::ffff:0:0/96 the
	 * IPv4-mapped ones: judge the IPv4 address they carry. */
	if (prefix_eq(a, zero, 96) || prefix_eq(a, mapped, 96))
		return v4_public(a + 12);
	if (prefix_eq(a, nat64, 96) || prefix_eq(a, nat64_local, 48))
		return false; /* NAT64: the operator allows it by CIDR if wanted */
	if (prefix_eq(a, sixtofour, 16))
		return v4_public(a + 2);
	if (prefix_eq(a, doc, 32))
		return false; /* documentation */
	if ((a[0] & 0xfe) == 0xfc)
		return false; /* unique local fc00::/7 */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return false; /* link-local fe80::/10 */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return false; /* site-local fec0::/10 (deprecated) */
	if (a[0] == 0xff)
		return false; /* multicast */
	return true;
}

bool pos_egress_addr_public(const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return v4_public((const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return v6_public(in6->sin6_addr.s6_addr);
	}
	return false;
}

/* ---- the allowlist ---- */

static bool entry_matches(const struct entry *en, const char *host,
			  const struct sockaddr *sa, unsigned port)
{
	if (en->port && en->port != port)
		return false;
	if (en->is_host) {
		if (!host)
			return false;
		size_t hl = strlen(host);
		if (hl && host[hl - 1] == '.')
			hl--;
		return hl == strlen(en->host) && strncasecmp(host, en->host, hl) == 0;
	}
	uint8_t v[16];
	int fam = sa->sa_family;
	if (fam == AF_INET) {
		memcpy(v, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else {
		memcpy(v, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(v, mapped, 12) == 0) {
			/* an IPv4 entry also allows the mapped form of its addresses */
			memmove(v, v + 12, 4);
			fam = AF_INET;
		}
	}
	return fam == en->family && prefix_eq(v, en->addr, en->prefix);
}

bool pos_egress_allows(const struct pos_egress *e, const char *host,
		       const struct sockaddr *sa)
{
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (pos_egress_addr_public(sa))
		return true;
	if (!e)
		return false;
	unsigned port = sa->sa_family == AF_INET
		? ntohs(((const struct sockaddr_in *)sa)->sin_port)
		: ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	for (size_t i = 0; i < e->n; i++)
		if (entry_matches(&e->e[i], host, sa, port))
			return true;
	return false;
}

static bool parse_port(const char *s, size_t n, unsigned *port)
{
	if (n == 0 || n > 5)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = v;
	return true;
}

static bool host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}

/* Parses an address or CIDR `s` (n bytes, no brackets) into `en`. */
static bool parse_cidr(const char *s, size_t n, bool want_v6, struct entry *en)
{
	char buf[64];
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *slash = strchr(buf, '/');
	long bits = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		if (!slash[1] || !isdigit((unsigned char)slash[1]))
			return false;
		bits = strtol(slash + 1, &end, 10);
		if (*end)
			return false;
	}
	memset(en->addr, 0, sizeof(en->addr));
	if (!want_v6 && inet_pton(AF_INET, buf, en->addr) == 1) {
		en->family = AF_INET;
		if (bits > 32)
			return false;
		en->prefix = bits < 0 ? 32 : (unsigned)bits;
	} else if (inet_pton(AF_INET6, buf, en->addr) == 1) {
		en->family = AF_INET6;
		if (bits > 128)
			return false;
		en->prefix = bits < 0 ? 128 : (unsigned)bits;
	} else {
		return false;
	}
	return true;
}

/* Parses one entry (n bytes at s, trimmed, non-empty). */
static bool parse_entry(const char *s, size_t n, struct entry *en)
{
	memset(en, 0, sizeof(*en));
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		size_t in = (size_t)(close - s - 1), rest = n - (size_t)(close - s) - 1;
		if (rest && (close[1] != ':' || !parse_port(close + 2, rest - 1, &en->port)))
			return false;
		return parse_cidr(s + 1, in, true, en);
	}
	const char *colon = memchr(s, ':', n);
	if (colon && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
		return parse_cidr(s, n, true, en); /* a bare IPv6 address or range */
	size_t an = colon ? (size_t)(colon - s) : n;
	if (colon && !parse_port(colon + 1, n - an - 1, &en->port))
		return false;
	if (parse_cidr(s, an, false, en))
		return true;
	if (memchr(s, '/', an) || !host_name_ok(s, an))
		return false;
	en->is_host = true;
	if (s[an - 1] == '.')
		an--;
	for (size_t i = 0; i < an; i++)
		en->host[i] = (char)tolower((unsigned char)s[i]);
	en->host[an] = '\0';
	return an > 0;
}

enum pos_err pos_egress_new(const char *allow, struct pos_egress **out,
			    struct pos_error *err)
{
	*out = NULL;
	if (allow && strlen(allow) > POS_EGRESS_SPEC_MAX)
		return pos_error_set(err, POS_ERR_USAGE, "egress_allow",
				     "egress_allow is longer than %d bytes",
				     POS_EGRESS_SPEC_MAX);
	struct pos_egress *e = pos_calloc(1, sizeof(*e));
	if (!e)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	const char *p = allow ? allow : "";
	while (*p) {
		size_t skip = strspn(p, ", \t");
		p += skip;
		size_t n = strcspn(p, ", \t");
		if (!n)
			break;
		if (e->n == POS_EGRESS_ENTRIES_MAX) {
			pos_free(e);
			return pos_error_set(err, POS_ERR_USAGE, "egress_allow",
					     "egress_allow has more than %d entries",
					     POS_EGRESS_ENTRIES_MAX);
		}
		if (!parse_entry(p, n, &e->e[e->n])) {
			pos_free(e);
			return pos_error_set(err, POS_ERR_USAGE, "egress_allow",
					     "egress_allow: '%.*s' is not HOST, HOST:PORT, "
					     "CIDR, CIDR:PORT or [IPV6-CIDR]:PORT",
					     (int)(n > 200 ? 200 : n), p);
		}
		e->n++;
		p += n;
	}
	*out = e;
	return POS_OK;
}

void pos_egress_free(struct pos_egress *e)
{
	pos_free(e);
}
