/* Unit tests for src/net/egress.c (the address classes and the operator's
 * allowlist) and the egress check of src/net/http.c: a refused address is
 * never connected to (a listener on 127.0.0.1 counts accepts). Only
 * loopback traffic; every other address is judged without connecting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/egress.h"
#include "net/http.h"

/* A sockaddr for a numeric address and port. */
static void addr(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	}
}

static bool allowed(const struct pos_egress *e, const char *host, const char *ip,
		    unsigned port)
{
	struct sockaddr_storage ss;
	addr(ip, port, &ss);
	return pos_egress_allows(e, host, (const struct sockaddr *)&ss);
}

static void address_classes(void **state)
{
	static const struct {
		const char *ip;
		bool public;
	} cases[] = {
		{"10.0.0.1", false}, {"172.16.5.4", false}, {"172.31.255.255", false},
		{"192.168.1.1", false}, {"169.254.169.254", false}, {"169.254.0.1", false},
		{"100.64.0.1", false}, {"100.127.255.254", false}, {"127.0.0.1", false},
		{"127.0.0.2", false}, {"0.0.0.0", false}, {"0.1.2.3", false},
		{"224.0.0.1", false}, {"239.255.255.250", false}, {"240.0.0.1", false},
		{"255.255.255.255", false}, {"192.0.2.1", false}, {"198.18.0.1", false},
		{"::1", false}, {"::", false}, {"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false}, {"::ffff:169.254.169.254", false},
		{"::10.0.0.1", false}, {"::127.0.0.1", false}, {"fe80::1", false},
		{"febf::1", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"ff02::1", false}, {"64:ff9b::a00:1", false}, {"64:ff9b::808:808", false},
		{"64:ff9b:1::1", false}, {"2002:a00:1::1", false}, {"fec0::1", false},
		{"2001:db8::1", false},
		/* public: judged only, never contacted */
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"172.32.0.1", true},
		{"100.128.0.1", true}, {"169.255.0.1", true}, {"192.169.0.1", true},
		{"::ffff:8.8.8.8", true}, {"2001:4860:4860::8888", true},
		{"2002:808:808::1", true}, {"2606:4700::1111", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		addr(cases[i].ip, 443, &ss);
		if (pos_egress_addr_public((const struct sockaddr *)&ss) != cases[i].public)
			fail_msg("%s: expected %s", cases[i].ip,
				 cases[i].public ? "public" : "refused");
		/* without an allowlist the decision is the class */
		assert_int_equal(allowed(NULL, "example.org", cases[i].ip, 443),
				 cases[i].public);
	}
	/* other families are never allowed */
	struct sockaddr sa = {.sa_family = AF_UNIX};
	assert_false(pos_egress_addr_public(&sa));
	assert_false(pos_egress_allows(NULL, "x", &sa));
}

static void allowlist_entries(void **state)
{
	struct pos_egress *e = NULL;
	struct pos_error err = {0};
	assert_int_equal(pos_egress_new("127.0.0.1:8025, mail.lan,10.1.0.0/16:993 "
					"[::1]:5232,fd00::/8, [fe80::/10]:80,"
					"ollama.local:11434 192.168.7.7",
					&e, &err), POS_OK);
	/* CIDR:PORT for IPv4 */
	assert_true(allowed(e, "localhost", "127.0.0.1", 8025));
	assert_true(allowed(e, "x", "::ffff:127.0.0.1", 8025)); /* mapped form */
	assert_false(allowed(e, "localhost", "127.0.0.1", 8026));
	assert_false(allowed(e, "localhost", "127.0.0.2", 8025));
	/* HOST: any port, by name, not by address */
	assert_true(allowed(e, "mail.lan", "10.9.9.9", 143));
	assert_true(allowed(e, "MAIL.LAN.", "10.9.9.9", 993));
	assert_false(allowed(e, "evil.lan", "10.9.9.9", 143));
	assert_false(allowed(e, NULL, "10.9.9.9", 143));
	/* CIDR:PORT range */
	assert_true(allowed(e, "a", "10.1.200.3", 993));
	assert_false(allowed(e, "a", "10.1.200.3", 143));
	assert_false(allowed(e, "a", "10.2.0.1", 993));
	/* [v6]:PORT */
	assert_true(allowed(e, "a", "::1", 5232));
	assert_false(allowed(e, "a", "::1", 5233));
	/* bare IPv6 CIDR, any port */
	assert_true(allowed(e, "a", "fd00::1", 1));
	assert_false(allowed(e, "a", "fc00::1", 1));
	/* [v6 CIDR]:PORT */
	assert_true(allowed(e, "a", "fe80::1", 80));
	assert_false(allowed(e, "a", "fe80::1", 81));
	/* HOST:PORT */
	assert_true(allowed(e, "ollama.local", "192.168.1.20", 11434));
	assert_false(allowed(e, "ollama.local", "192.168.1.20", 11435));
	/* a plain address, any port */
	assert_true(allowed(e, "a", "192.168.7.7", 1234));
	assert_false(allowed(e, "a", "192.168.7.8", 1234));
	/* the metadata service stays refused */
	assert_false(allowed(e, "a", "169.254.169.254", 80));
	/* public addresses need no entry */
	assert_true(allowed(e, "a", "8.8.8.8", 53));
	pos_egress_free(e);

	/* empty: nothing private */
	assert_int_equal(pos_egress_new("", &e, &err), POS_OK);
	assert_false(allowed(e, "localhost", "127.0.0.1", 80));
	pos_egress_free(e);
	assert_int_equal(pos_egress_new(NULL, &e, &err), POS_OK);
	pos_egress_free(e);

	static const char *const bad[] = {
		"10.0.0.0/33", "host:0", "host:65536", "host:x", "[::1", "[::1]x",
		"fd00::/129", "bad_/host", "a b:c:", "10.0.0.0/8:99999", "h$st", "[nothost]:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = NULL;
		if (pos_egress_new(bad[i], &e, &err) != POS_ERR_USAGE)
			fail_msg("'%s' was accepted", bad[i]);
		assert_null(e);
	}
}

/* A listener on 127.0.0.1 (non-blocking accept); its port in *port. */
static int listener(unsigned *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in in = {.sin_family = AF_INET};
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t len = sizeof(in);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	*port = ntohs(in.sin_port);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static int accepts(int fd)
{
	int n = 0;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			return n;
		close(c);
		n++;
	}
}

static void client_refuses_before_connecting(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	unsigned port;
	int fd = listener(&port);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/feed.ics", port);
	struct pos_http_req req = {.url = url, .trust = POS_NET_USER,
				   .connect_timeout_ms = 2000, .timeout_ms = 300};
	struct pos_http_resp resp;
	struct pos_error err = {0};
	assert_int_equal(pos_http_perform(NULL, &req, &resp, &err), POS_ERR_FORBIDDEN);
	assert_int_equal(resp.fail, POS_HTTP_DENIED);
	assert_non_null(strstr(err.message, "127.0.0.1 is not allowed by the server's egress policy"));
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 0);

	/* localhost by name: refused on its resolved address */
	snprintf(url, sizeof(url), "http://localhost:%u/", port);
	assert_int_equal(pos_http_perform(NULL, &req, &resp, &err), POS_ERR_FORBIDDEN);
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 0);

	/* another port allowed does not help */
	struct pos_egress *e;
	char spec[64];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", port + 1 > 65535 ? 1 : port + 1);
	assert_int_equal(pos_egress_new(spec, &e, &err), POS_OK);
	req.egress = e;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	assert_int_equal(pos_http_perform(NULL, &req, &resp, &err), POS_ERR_FORBIDDEN);
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 0);
	pos_egress_free(e);

	/* the port in the allowlist: it connects (the listener never answers,
	 * so the exchange fails afterwards, which is not what is tested) */
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", port);
	assert_int_equal(pos_egress_new(spec, &e, &err), POS_OK);
	req.egress = e;
	pos_http_perform(NULL, &req, &resp, &err);
	assert_int_not_equal(resp.fail, POS_HTTP_DENIED);
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 1);
	pos_egress_free(e);

	/* an operator's endpoint is trusted on its own host and port */
	req.egress = NULL;
	req.trust = POS_NET_OPERATOR;
	pos_http_perform(NULL, &req, &resp, &err);
	assert_int_not_equal(resp.fail, POS_HTTP_DENIED);
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 1);

	/* a raw handle (the IMAP adapter's) gets the same check */
	struct pos_http_easy ez;
	assert_int_equal(pos_http_easy_init(&ez, "127.0.0.1", port, "imap,imaps",
					    POS_NET_USER, NULL, &err), POS_OK);
	snprintf(url, sizeof(url), "imap://127.0.0.1:%u/", port);
	curl_easy_setopt(ez.curl, CURLOPT_URL, url);
	curl_easy_setopt(ez.curl, CURLOPT_CONNECT_ONLY, 1L);
	CURLcode cc = curl_easy_perform(ez.curl);
	assert_int_not_equal(cc, CURLE_OK);
	assert_int_equal(pos_http_easy_fail(&ez, cc, "IMAP server 127.0.0.1", &err),
			 POS_ERR_FORBIDDEN);
	pos_http_easy_cleanup(&ez);
	assert_int_equal(accepts(fd), 0);
	/* and an unsupported scheme is refused before any connection */
	req.trust = POS_NET_USER;
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%u/", port);
	assert_int_equal(pos_http_perform(NULL, &req, &resp, &err), POS_ERR_INVALID_FIELD);
	pos_http_resp_free(&resp);
	assert_int_equal(accepts(fd), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(address_classes),
		cmocka_unit_test(allowlist_entries),
		cmocka_unit_test(client_refuses_before_connecting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
