/*
 * loadgen — a small HTTP/1.1 load generator for the PersonalOS benchmarks.
 *
 * A few threads (one per CPU by default), each running an epoll loop over its
 * share of the keep-alive connections. Each connection has one request in
 * flight (no pipelining): it sends it, reads the whole response
 * (Content-Length, chunked, or until close), checks the status, and records
 * the client-side latency and, when the response carries
 * `Server-Timing: app;dur=<ms>`, the server-side duration. Requests are
 * numbered from a shared counter, so a bounded run (--requests) sends exactly
 * that many. Warm-up requests run first on the same connections and are not
 * recorded. With --bodies (a file of JSON lines), request k of the whole run,
 * warm-up included, sends line k modulo the number of lines.
 *
 * At the end it prints one line of key=value pairs (or one JSON object with
 * --json). No third-party code:
 *
 *     cc -O2 -std=c17 -Wall -Wextra -pthread -o loadgen loadgen.c
 *
 * Exit status: 0 when every measured request got the expected status, 2 when
 * some failed (the result line is printed anyway), 1 on bad usage or setup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>   /* NAN, isnan, isfinite: macros, no libm */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES   ((size_t)1 << 30)
#define MAX_REPORTS      5

/* ---- configuration ------------------------------------------------------ */

struct request {            /* one prebuilt request: headers + body */
    char *data;
    size_t len;
};

struct config {
    char host[256];
    char port[16];
    const char *method;
    const char *path;
    const char *token;
    const char *content_type;
    const char *timing_name;     /* Server-Timing metric to read */
    char **headers;              /* extra "Name: value" lines */
    int nheaders;
    struct request *reqs;        /* prebuilt, one per body (at least one) */
    size_t nreqs;
    int conns;
    int threads;
    long long total;             /* measured requests; 0 when duration-bound */
    double duration;             /* seconds; 0 when count-bound */
    long long warmup;
    int expect_lo, expect_hi;    /* accepted status range, inclusive */
    double timeout;              /* seconds per socket operation */
    bool json;
    bool head;                   /* HEAD: responses carry no body */
    bool honor_retry_after;      /* after a 429/503, wait its Retry-After */
};

static struct config cfg;
static struct addrinfo *target_ai;

static atomic_llong warm_next;
static atomic_llong next_req;
static atomic_int reports;      /* failure messages printed so far */
static pthread_barrier_t barrier;
static double deadline;         /* monotonic seconds; duration mode only */

/* ---- small helpers ------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loadgen: %s\n", line);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("%s", "out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("%s", "out of memory");
    return p;
}

/* Print at most MAX_REPORTS failure descriptions over the whole run. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    if (atomic_fetch_add(&reports, 1) >= MAX_REPORTS)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loadgen: %s\n", line);   /* one call: lines stay whole */
}

static long long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        die("bad number for %s", what);
    return v;
}

static double parse_seconds(const char *s, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || !isfinite(v))
        die("bad number for %s", what);
    if (*end == 's' && end[1] == '\0')
        return v;
    if (*end == 'm' && end[1] == 's' && end[2] == '\0')
        return v / 1000.0;
    if (*end)
        die("bad number for %s", what);
    return v;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        die("cannot read %s", path);
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* ---- request building --------------------------------------------------- */

static void build_request_for(struct request *r, const char *method,
                              const char *path, const char *body, size_t blen,
                              bool has_body)
{
    size_t cap = 1024 + strlen(path) + blen;
    for (int i = 0; i < cfg.nheaders; i++)
        cap += strlen(cfg.headers[i]) + 2;
    if (cfg.token)
        cap += strlen(cfg.token);
    char *p = xmalloc(cap);
    int n = snprintf(p, cap,
                     "%s %s HTTP/1.1\r\n"
                     "Host: %s:%s\r\n"
                     "User-Agent: personalos-loadgen/1\r\n"
                     "Accept: application/json\r\n",
                     method, path, cfg.host, cfg.port);
    size_t len = (size_t)n;
    if (cfg.token)
        len += (size_t)snprintf(p + len, cap - len,
                                "Authorization: Bearer %s\r\n", cfg.token);
    if (has_body)
        len += (size_t)snprintf(p + len, cap - len,
                                "Content-Type: %s\r\nContent-Length: %zu\r\n",
                                cfg.content_type, blen);
    else if (!strcmp(method, "POST") || !strcmp(method, "PUT") ||
             !strcmp(method, "PATCH"))
        len += (size_t)snprintf(p + len, cap - len, "Content-Length: 0\r\n");
    for (int i = 0; i < cfg.nheaders; i++)
        len += (size_t)snprintf(p + len, cap - len, "%s\r\n", cfg.headers[i]);
    len += (size_t)snprintf(p + len, cap - len, "\r\n");
    if (has_body) {
        memcpy(p + len, body, blen);
        len += blen;
    }
    r->data = p;
    r->len = len;
}

static void build_request(struct request *r, const char *body, size_t blen,
                          bool has_body)
{
    build_request_for(r, cfg.method, cfg.path, body, blen, has_body);
}

/* A script: one request per non-empty line, "METHOD PATH" optionally
 * followed by a tab and the body. Lets one run mix reads and writes. */
static void build_requests_from_script(char *text, size_t len)
{
    size_t cap = 64;
    cfg.reqs = xmalloc(cap * sizeof *cfg.reqs);
    cfg.nreqs = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && text[end - 1] == '\r')
            end--;
        if (end > i) {
            char *line = text + i;
            line[end - i] = '\0';
            char *tab = strchr(line, '\t');
            if (tab)
                *tab = '\0';
            char *sp = strchr(line, ' ');
            if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' '))
                die("bad --script line '%s', want 'METHOD PATH[\\tBODY]'", line);
            *sp = '\0';
            if (cfg.nreqs == cap) {
                cap *= 2;
                cfg.reqs = xrealloc(cfg.reqs, cap * sizeof *cfg.reqs);
            }
            build_request_for(&cfg.reqs[cfg.nreqs++], line, sp + 1,
                              tab ? tab + 1 : "", tab ? strlen(tab + 1) : 0,
                              tab != NULL);
        }
        i = j + 1;
    }
    if (cfg.nreqs == 0)
        die("%s", "--script file holds no lines");
}

/* Bodies from a file of lines: one request per non-empty line. */
static void build_requests_from_lines(char *text, size_t len)
{
    size_t cap = 64;
    cfg.reqs = xmalloc(cap * sizeof *cfg.reqs);
    cfg.nreqs = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && text[end - 1] == '\r')
            end--;
        if (end > i) {
            if (cfg.nreqs == cap) {
                cap *= 2;
                cfg.reqs = xrealloc(cfg.reqs, cap * sizeof *cfg.reqs);
            }
            build_request(&cfg.reqs[cfg.nreqs++], text + i, end - i, true);
        }
        i = j + 1;
    }
    if (cfg.nreqs == 0)
        die("%s", "--bodies file holds no lines");
}

/* ---- latency samples ---------------------------------------------------- */

struct samples {
    double *v;      /* milliseconds */
    size_t n, cap;
};

static void samples_add(struct samples *s, double ms)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples; NAN when there are none. */
static double percentile(const struct samples *s, double p)
{
    if (s->n == 0)
        return NAN;
    double exact = p / 100.0 * (double)s->n;
    size_t rank = (size_t)exact;
    if ((double)rank < exact)
        rank++;                 /* ceil without libm */
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

static double mean(const struct samples *s)
{
    if (s->n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return sum / (double)s->n;
}

/* ---- response parsing --------------------------------------------------- */

struct response {
    int status;
    size_t consumed;             /* bytes of the buffer this response used */
    size_t body_off, body_len;   /* body within the buffer (raw if chunked) */
    bool close;                  /* the server will close the connection */
    bool has_timing;
    double server_ms;
    int retry_after;             /* seconds of a Retry-After header, -1 none */
};

enum parse_result { PARSE_ERROR = -1, PARSE_MORE = 0, PARSE_DONE = 1 };

static bool header_is(const char *line, size_t nlen, const char *name)
{
    return strlen(name) == nlen && strncasecmp(line, name, nlen) == 0;
}

/* Does a comma-separated header value hold `token` (case-insensitive)? */
static bool value_has_token(const char *v, size_t vlen, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tlen && strncasecmp(v + s, token, tlen) == 0)
            return true;
    }
    return false;
}

/* Server-Timing: metric[;param=value]*[, metric...]. Picks the metric named
 * cfg.timing_name and its dur parameter, in milliseconds. */
static bool parse_server_timing(const char *v, size_t vlen, double *ms)
{
    size_t i = 0, nlen = strlen(cfg.timing_name);
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && v[i] != ',' && v[i] != ';' && v[i] != ' ')
            i++;
        bool match = i - s == nlen && strncasecmp(v + s, cfg.timing_name, nlen) == 0;
        /* parameters of this metric, up to the next comma */
        while (i < vlen && v[i] != ',') {
            while (i < vlen && (v[i] == ';' || v[i] == ' ' || v[i] == '\t'))
                i++;
            size_t ps = i;
            while (i < vlen && v[i] != '=' && v[i] != ';' && v[i] != ',')
                i++;
            size_t pe = i;
            while (pe > ps && (v[pe - 1] == ' ' || v[pe - 1] == '\t'))
                pe--;
            if (i < vlen && v[i] == '=') {
                i++;
                while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
                    i++;
                if (i < vlen && v[i] == '"')
                    i++;
                size_t vs = i;
                while (i < vlen && v[i] != ';' && v[i] != ',')
                    i++;
                if (match && pe - ps == 3 && strncasecmp(v + ps, "dur", 3) == 0) {
                    char num[64];
                    size_t n = i - vs < sizeof num - 1 ? i - vs : sizeof num - 1;
                    memcpy(num, v + vs, n);
                    num[n] = '\0';
                    char *end;
                    double d = strtod(num, &end);
                    if (end != num && isfinite(d)) {
                        *ms = d;
                        return true;
                    }
                }
            }
        }
    }
    return false;
}

/* Offset of the "\r\n" at or after `from` in buf[0..len), or -1. */
static long find_crlf(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return (long)i;
    return -1;
}

#define FAIL(msg) do { *why = (msg); return PARSE_ERROR; } while (0)

/* Parses the chunked body starting at *pos. PARSE_DONE moves *pos past the
 * last chunk and the trailers. */
static enum parse_result parse_chunked(const char *buf, size_t len, size_t *pos,
                                       const char **why)
{
    size_t p = *pos, body = 0;
    for (;;) {                         /* chunk-size [;ext] CRLF data CRLF */
        long eol = find_crlf(buf, len, p);
        if (eol < 0 && len - p > 1024)
            FAIL("bad chunk size line");
        if (eol < 0)
            return PARSE_MORE;
        unsigned long long n = 0;
        size_t k = p, digits = 0;
        for (; k < (size_t)eol; k++, digits++) {
            char ch = buf[k];
            int d = ch >= '0' && ch <= '9' ? ch - '0'
                  : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                  : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if (d < 0)
                break;
            if (n > MAX_BODY_BYTES)
                FAIL("chunk too large");
            n = n * 16 + (unsigned)d;
        }
        if (digits == 0 || (k < (size_t)eol && buf[k] != ';' && buf[k] != ' '))
            FAIL("bad chunk size");
        if (n > MAX_BODY_BYTES || body + n > MAX_BODY_BYTES)
            FAIL("chunked body too large");
        p = (size_t)eol + 2;
        if (n == 0)
            break;
        if (len < p + n + 2)
            return PARSE_MORE;
        if (buf[p + n] != '\r' || buf[p + n + 1] != '\n')
            FAIL("chunk not followed by CRLF");
        p += n + 2;
        body += n;
    }
    for (;;) {                         /* trailers, up to an empty line */
        long eol = find_crlf(buf, len, p);
        if (eol < 0 && len - p > MAX_HEADER_BYTES)
            FAIL("trailers too large");
        if (eol < 0)
            return PARSE_MORE;
        bool empty = (size_t)eol == p;
        p = (size_t)eol + 2;
        if (empty)
            break;
    }
    *pos = p;
    return PARSE_DONE;
}

/* Parses one response at the start of buf[0..len). `eof`: the server has
 * closed the connection, so a body without a length ends here. Interim 1xx
 * responses (100 Continue) are skipped. Pure: it can be called again with
 * more bytes. */
static enum parse_result parse_response(const char *buf, size_t len, bool eof,
                                        struct response *r, const char **why)
{
    size_t start = 0;
again:
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    const char *end = memmem(buf + start, len - start, "\r\n\r\n", 4);
    if (!end) {
        if (len - start > MAX_HEADER_BYTES)
            FAIL("response headers too large");
        return PARSE_MORE;
    }
    size_t hdr_end = (size_t)(end - buf) + 4;
    long eol = find_crlf(buf, len, start);
    const char *sl = buf + start;
    /* status line: HTTP/1.x SP 3DIGIT [SP reason] */
    if ((size_t)eol - start < 12 || strncmp(sl, "HTTP/1.", 7) != 0 || sl[8] != ' ')
        FAIL("malformed status line");
    int status = 0;
    for (int k = 9; k < 12; k++) {
        if (sl[k] < '0' || sl[k] > '9')
            FAIL("malformed status code");
        status = status * 10 + (sl[k] - '0');
    }
    bool http10 = sl[7] == '0';
    bool have_cl = false, chunked = false, close_conn = http10, keep_alive = false;
    unsigned long long cl = 0;
    size_t pos = (size_t)eol + 2;
    while (pos < hdr_end - 2) {
        eol = find_crlf(buf, hdr_end, pos);
        const char *line = buf + pos;
        size_t llen = (size_t)eol - pos;
        const char *colon = memchr(line, ':', llen);
        if (!colon)
            FAIL("malformed header line");
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = llen - nlen - 1;
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (header_is(line, nlen, "Content-Length")) {
            unsigned long long n = 0;
            if (vlen == 0 || vlen > 19)
                FAIL("bad Content-Length");
            for (size_t k = 0; k < vlen; k++) {
                if (v[k] < '0' || v[k] > '9')
                    FAIL("bad Content-Length");
                n = n * 10 + (unsigned)(v[k] - '0');
            }
            if (have_cl && n != cl)
                FAIL("conflicting Content-Length headers");
            have_cl = true;
            cl = n;
        } else if (header_is(line, nlen, "Transfer-Encoding")) {
            if (value_has_token(v, vlen, "chunked"))
                chunked = true;
            else if (!value_has_token(v, vlen, "identity"))
                FAIL("unsupported Transfer-Encoding");
        } else if (header_is(line, nlen, "Connection")) {
            if (value_has_token(v, vlen, "close"))
                close_conn = true;
            if (value_has_token(v, vlen, "keep-alive"))
                keep_alive = true;
        } else if (header_is(line, nlen, "Retry-After")) {
            int ra = 0;
            size_t k = 0;
            while (k < vlen && v[k] >= '0' && v[k] <= '9' && ra < 3600)
                ra = ra * 10 + (v[k++] - '0');
            if (k > 0)
                r->retry_after = ra;
        } else if (header_is(line, nlen, "Server-Timing")) {
            double ms;
            if (!r->has_timing && parse_server_timing(v, vlen, &ms)) {
                r->has_timing = true;
                r->server_ms = ms;
            }
        }
        pos = (size_t)eol + 2;
    }
    if (http10 && keep_alive)
        close_conn = false;
    if (status >= 100 && status < 200 && status != 101) {
        start = hdr_end;
        goto again;
    }

    r->status = status;
    r->close = close_conn;
    r->body_off = hdr_end;
    if (cfg.head || status == 204 || status == 304) {
        r->consumed = hdr_end;
    } else if (chunked) {
        size_t p = hdr_end;
        enum parse_result pr = parse_chunked(buf, len, &p, why);
        if (pr != PARSE_DONE)
            return pr;
        r->body_len = p - hdr_end;
        r->consumed = p;
    } else if (have_cl) {
        if (cl > MAX_BODY_BYTES)
            FAIL("Content-Length too large");
        if (len < hdr_end + cl)
            return PARSE_MORE;
        r->body_len = cl;
        r->consumed = hdr_end + cl;
    } else {
        /* No length: the body runs to the end of the connection. */
        if (len - hdr_end > MAX_BODY_BYTES)
            FAIL("body too large");
        if (!eof)
            return PARSE_MORE;
        r->body_len = len - hdr_end;
        r->consumed = len;
        r->close = true;
    }
    return PARSE_DONE;
}

#undef FAIL

/* ---- connections -------------------------------------------------------- */

enum conn_state { C_IDLE, C_SEND, C_RECV, C_PAUSE };

struct worker;

struct conn {
    struct worker *w;
    int fd;
    enum conn_state state;
    bool used;                   /* this connection carried a response */
    bool reused;                 /* the current request runs on a used one */
    bool record;                 /* measured (not warm-up) */
    bool want_out;               /* registered for EPOLLOUT */
    int attempt;
    long long idx;
    const struct request *req;
    size_t sent;
    double t0;
    double resume_at;            /* C_PAUSE: when to send the next request */
    char *buf;                   /* received bytes not yet consumed */
    size_t len, cap;
};

struct worker {
    pthread_t thread;
    int epfd;
    struct conn *conns;
    int nconns;
    int active;                  /* connections that still have work */
    bool measuring;
    struct samples client, server, refused;  /* refused: unexpected statuses */
    /* the same split by kind: requests that are not GET (writes), and GET */
    struct samples client_w, server_w, client_r, server_r;
    long long ok, http_errors, io_errors, connects;
    double connect_max_s;        /* the longest blocking connect (it stalls the thread) */
    long long status_class[6];   /* index 1..5 for 1xx..5xx, 0 other */
    long long status_n[600];     /* per status code 100..599 */
};

/* strerror, with the cases a load generator meets named plainly. */
static const char *io_error_text(int err)
{
    if (err == 0)
        return "connection closed by the server";
    if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT)
        return "timed out (see --timeout)";
    return strerror(err);
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);          /* also leaves the epoll set */
    c->fd = -1;
    c->len = 0;
    c->used = false;
    c->want_out = false;
}

/* Blocking connect (bounded by --timeout), then non-blocking for the loop. */
static int conn_open(struct conn *c)
{
    conn_close(c);
    int last_err = 0;
    for (struct addrinfo *ai = target_ai; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        struct timeval tv;
        tv.tv_sec = (time_t)cfg.timeout;
        tv.tv_usec = (suseconds_t)((cfg.timeout - (double)tv.tv_sec) * 1e6);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
                epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                last_err = errno;
                close(fd);
                continue;
            }
            c->fd = fd;
            c->w->connects++;
            return 0;
        }
        last_err = errno;
        close(fd);
    }
    errno = last_err;
    return -1;
}

static void want_out(struct conn *c, bool on)
{
    if (c->want_out == on || c->fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static int begin_request(struct conn *c);

/* The current request failed with `why` (errno `err`, 0 for EOF). A
 * kept-alive connection the server closed meanwhile (EOF or reset before any
 * byte of an answer) is retried once on a fresh connection, as every HTTP
 * client does; never after a timeout. Returns 0 when a retry is under way,
 * -1 when the request counts as failed. */
static int fail_request(struct conn *c, const char *why, int err)
{
    bool closed = err == 0 || err == ECONNRESET || err == EPIPE;
    bool retry = c->reused && c->attempt == 0 && closed && c->len == 0;
    conn_close(c);
    if (retry) {
        c->attempt++;
        return begin_request(c);
    }
    if (c->record)
        c->w->io_errors++;
    report("request %lld: %s", c->idx, why);
    return -1;
}

/* Sends as much of the request as the socket takes. 0 on progress, -1 when
 * the request failed (already counted). */
static int send_more(struct conn *c)
{
    while (c->sent < c->req->len) {
        ssize_t k = send(c->fd, c->req->data + c->sent, c->req->len - c->sent,
                         MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_out(c, true);
                return 0;
            }
            return fail_request(c, io_error_text(errno), errno);
        }
        c->sent += (size_t)k;
    }
    want_out(c, false);
    c->state = C_RECV;
    return 0;
}

/* Starts request c->idx on c, opening a connection if needed. 0 when it is
 * under way, -1 when it failed (already counted). */
static int begin_request(struct conn *c)
{
    double tc = now_s();
    int opened = c->fd < 0 ? conn_open(c) : 1;
    if (opened == 0 && now_s() - tc > c->w->connect_max_s)
        c->w->connect_max_s = now_s() - tc;
    if (opened < 0) {
        int err = errno;
        if (c->record)
            c->w->io_errors++;
        report("connect to %s:%s: %s", cfg.host, cfg.port, io_error_text(err));
        usleep(10000);             /* do not spin while the server is down */
        return -1;
    }
    /* Warm-up requests take the first bodies, measured ones those after. */
    long long body = c->record ? cfg.warmup + c->idx : c->idx;
    c->req = &cfg.reqs[(size_t)body % cfg.nreqs];
    c->sent = 0;
    c->reused = c->used;
    c->state = C_SEND;
    c->t0 = now_s();
    return send_more(c);
}

/* Claims the next request number for this phase; false when there is none. */
static bool next_index(struct worker *w, long long *idx)
{
    if (!w->measuring) {
        *idx = atomic_fetch_add(&warm_next, 1);
        return *idx < cfg.warmup;
    }
    if (cfg.duration > 0 && now_s() >= deadline)
        return false;
    *idx = atomic_fetch_add(&next_req, 1);
    return cfg.total == 0 || *idx < cfg.total;
}

/* Starts c's next request, skipping over ones that fail at once. */
static void start_next(struct conn *c)
{
    for (;;) {
        long long idx;
        if (!next_index(c->w, &idx)) {
            c->state = C_IDLE;
            c->w->active--;
            return;
        }
        c->idx = idx;
        c->record = c->w->measuring;
        c->attempt = 0;
        if (begin_request(c) == 0)
            return;
    }
}

static void finish_request(struct conn *c, const struct response *r)
{
    double t1 = now_s();
    struct worker *w = c->w;
    if (c->record) {
        int cls = r->status / 100;
        w->status_class[cls >= 1 && cls <= 5 ? cls : 0]++;
        if (r->status >= 100 && r->status < 600)
            w->status_n[r->status]++;
        if (r->status >= cfg.expect_lo && r->status <= cfg.expect_hi) {
            w->ok++;
            bool is_get = strncmp(c->req->data, "GET ", 4) == 0;
            samples_add(&w->client, (t1 - c->t0) * 1000.0);
            samples_add(is_get ? &w->client_r : &w->client_w, (t1 - c->t0) * 1000.0);
            if (r->has_timing) {
                samples_add(&w->server, r->server_ms);
                samples_add(is_get ? &w->server_r : &w->server_w, r->server_ms);
            }
        } else {
            samples_add(&w->refused, (t1 - c->t0) * 1000.0);
            w->http_errors++;
            size_t show = r->body_len < 300 ? r->body_len : 300;
            report("request %lld: status %d, body: %.*s", c->idx, r->status,
                   (int)show, c->buf + r->body_off);
        }
    }
    c->used = true;
    /* An answer that came before the whole request went out (a 413, say)
     * leaves the connection out of step: start afresh. */
    if (r->close || c->state == C_SEND) {
        conn_close(c);
    } else {
        /* keep any bytes past this response (there should be none) */
        memmove(c->buf, c->buf + r->consumed, c->len - r->consumed);
        c->len -= r->consumed;
    }
    if (cfg.honor_retry_after && (r->status == 429 || r->status == 503)) {
        /* a polite client: this connection sends nothing until then */
        c->state = C_PAUSE;
        c->resume_at = t1 + (r->retry_after >= 0 ? r->retry_after : 1);
        return;
    }
    start_next(c);
}

/* The socket is readable (or has an error or hang-up). */
static void on_readable(struct conn *c)
{
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = xrealloc(c->buf, c->cap);
    }
    ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (c->state == C_IDLE) {
        /* An idle kept-alive connection: the server closed it, or sent
         * something unasked. Either way it is done. */
        conn_close(c);
        return;
    }
    int err = k < 0 ? errno : 0;
    if (k > 0)
        c->len += (size_t)k;
    if (k < 0) {
        if (fail_request(c, io_error_text(err), err) < 0)
            start_next(c);
        return;
    }
    struct response r;
    const char *why = "connection closed by the server";
    enum parse_result pr = parse_response(c->buf, c->len, k == 0, &r, &why);
    if (pr == PARSE_DONE) {
        if (k == 0)
            r.close = true;
        finish_request(c, &r);
    } else if (pr == PARSE_ERROR || k == 0) {
        if (pr == PARSE_ERROR)
            err = EPROTO;
        if (fail_request(c, why, err) < 0)
            start_next(c);
    }
}

static void check_timeouts(struct worker *w)
{
    double now = now_s();
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state != C_IDLE && c->state != C_PAUSE && now - c->t0 > cfg.timeout) {
            c->attempt = 1;        /* a timeout is never retried */
            if (fail_request(c, io_error_text(ETIMEDOUT), ETIMEDOUT) < 0)
                start_next(c);
        }
    }
}

/* Runs one phase (warm-up or measured) until every connection is idle. */
static void run_phase(struct worker *w, bool measuring)
{
    struct epoll_event evs[64];
    w->measuring = measuring;
    w->active = w->nconns;
    for (int i = 0; i < w->nconns; i++)
        start_next(&w->conns[i]);
    double last_check = now_s();
    while (w->active > 0) {
        int n = epoll_wait(w->epfd, evs, 64, cfg.honor_retry_after ? 10 : 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;          /* closed earlier in this batch */
            if ((evs[i].events & EPOLLOUT) && c->state == C_SEND) {
                if (send_more(c) < 0) {
                    start_next(c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
        }
        double now = now_s();
        if (n <= 0 || now - last_check > 0.1) {
            check_timeouts(w);
            last_check = now;
        }
        if (cfg.honor_retry_after)
            for (int i = 0; i < w->nconns; i++)
                if (w->conns[i].state == C_PAUSE && w->conns[i].resume_at <= now)
                    start_next(&w->conns[i]);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    run_phase(w, false);
    pthread_barrier_wait(&barrier);     /* warm-up done everywhere */
    pthread_barrier_wait(&barrier);     /* main has started the clock */
    run_phase(w, true);
    for (int i = 0; i < w->nconns; i++) {
        conn_close(&w->conns[i]);
        free(w->conns[i].buf);
    }
    return NULL;
}


/* ---- command line ------------------------------------------------------- */

static void usage(FILE *out)
{
    fputs(
"usage: loadgen [options] [http://HOST:PORT/PATH]\n"
"  -t, --target HOST:PORT   server address (default 127.0.0.1:8420)\n"
"  -m, --method METHOD      request method (default GET)\n"
"  -p, --path PATH          request path with query (default /)\n"
"  -b, --body TEXT          request body, literal\n"
"  -B, --body-file FILE     request body, read from FILE ('-' for stdin)\n"
"  -L, --bodies FILE        one body per line (JSON Lines); the k-th request,\n"
"                           warm-up included, sends line k modulo the lines\n"
"  -S, --script FILE        one request per line, 'METHOD PATH' and optionally\n"
"                           a tab and a body: mixes reads and writes in a run\n"
"      --content-type TYPE  body type (default application/json)\n"
"  -T, --token TOKEN        send 'Authorization: Bearer TOKEN'\n"
"  -H, --header 'N: V'      extra request header (repeatable)\n"
"  -c, --connections N      concurrent keep-alive connections (default 1)\n"
"      --threads N          event-loop threads the connections share\n"
"                           (default: online CPUs, at most N connections)\n"
"  -n, --requests N         measured requests in total (default 1000)\n"
"  -d, --duration SECONDS   run for a time instead of a count (e.g. 10, 500ms)\n"
"  -w, --warmup N           unrecorded requests before measuring (default 0)\n"
"  -e, --expect STATUS      accepted status: 200, 2xx, or 200-204 (default 2xx)\n"
"      --timeout SECONDS    per socket send/receive (default 30)\n"
"      --honor-retry-after  after a 429 or 503, the connection waits its\n"
"                           Retry-After (1 s without one) before the next request\n"
"      --timing-name NAME   Server-Timing metric to read (default app)\n"
"  -j, --json               print one JSON object instead of key=value\n"
"  -h, --help               this text\n"
"Prints requests, ok, errors, seconds, req_per_s, client latency p50/p90/p99/\n"
"max/mean and server-side (Server-Timing) p50/p90/p99/max, all in ms.\n", out);
}

static void parse_target(const char *s)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {                   /* [v6addr]:port */
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            die("bad target '%s', want HOST:PORT", s);
        hlen = (size_t)(rb - s - 1);
        s++;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            die("bad target '%s', want HOST:PORT", s);
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof cfg.host || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= sizeof cfg.port)
        die("bad target '%s', want HOST:PORT", s);
    memcpy(cfg.host, s, hlen);
    cfg.host[hlen] = '\0';
    snprintf(cfg.port, sizeof cfg.port, "%s", colon + 1);
}

static void parse_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        die("only http:// URLs are supported: %s", url);
    const char *hp = url + 7;
    const char *slash = strchr(hp, '/');
    size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
    char tmp[300];
    if (n == 0 || n >= sizeof tmp)
        die("bad URL %s", url);
    memcpy(tmp, hp, n);
    tmp[n] = '\0';
    if (!strchr(tmp, ':') || (tmp[0] == '[' && !strstr(tmp, "]:"))) {
        if (n + 3 >= sizeof tmp)
            die("bad URL %s", url);
        memcpy(tmp + n, ":80", 4);       /* default port */
    }
    parse_target(tmp);
    cfg.path = slash ? slash : "/";
}

static void parse_expect(const char *s)
{
    size_t n = strlen(s);
    if (n == 3 && s[0] >= '1' && s[0] <= '5' &&
        (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        cfg.expect_lo = (s[0] - '0') * 100;
        cfg.expect_hi = cfg.expect_lo + 99;
        return;
    }
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (*end == '-')
        hi = strtol(end + 1, &end, 10);
    if (*end || lo < 100 || hi > 599 || lo > hi)
        die("bad --expect '%s'", s);
    cfg.expect_lo = (int)lo;
    cfg.expect_hi = (int)hi;
}

/* ---- output ------------------------------------------------------------- */

static void put_num(bool json, bool *first, const char *key, double v, int prec)
{
    const char *sep = *first ? "" : (json ? ", " : " ");
    *first = false;
    if (json) {
        if (isnan(v))
            printf("%s\"%s\": null", sep, key);
        else
            printf("%s\"%s\": %.*f", sep, key, prec, v);
    } else {
        if (isnan(v))
            printf("%s%s=na", sep, key);
        else
            printf("%s%s=%.*f", sep, key, prec, v);
    }
}

int main(int argc, char **argv)
{
    cfg.method = "GET";
    cfg.path = "/";
    cfg.content_type = "application/json";
    cfg.timing_name = "app";
    cfg.conns = 1;
    cfg.total = -1;
    cfg.expect_lo = 200;
    cfg.expect_hi = 299;
    cfg.timeout = 30;
    parse_target("127.0.0.1:8420");

    const char *body = NULL, *body_file = NULL, *bodies_file = NULL;
    const char *script_file = NULL;
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},
        {"method", required_argument, 0, 'm'},
        {"path", required_argument, 0, 'p'},
        {"body", required_argument, 0, 'b'},
        {"body-file", required_argument, 0, 'B'},
        {"bodies", required_argument, 0, 'L'},
        {"script", required_argument, 0, 'S'},
        {"content-type", required_argument, 0, 1},
        {"token", required_argument, 0, 'T'},
        {"header", required_argument, 0, 'H'},
        {"connections", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 4},
        {"requests", required_argument, 0, 'n'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},
        {"expect", required_argument, 0, 'e'},
        {"timeout", required_argument, 0, 2},
        {"timing-name", required_argument, 0, 3},
        {"json", no_argument, 0, 'j'},
        {"honor-retry-after", no_argument, 0, 5},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    cfg.headers = xmalloc((size_t)argc * sizeof *cfg.headers);
    while ((c = getopt_long(argc, argv, "t:m:p:b:B:L:S:T:H:c:n:d:w:e:jh", opts,
                            NULL)) != -1) {
        switch (c) {
        case 't': parse_target(optarg); break;
        case 'm': cfg.method = optarg; break;
        case 'p': cfg.path = optarg; break;
        case 'b': body = optarg; break;
        case 'B': body_file = optarg; break;
        case 'L': bodies_file = optarg; break;
        case 'S': script_file = optarg; break;
        case 1: cfg.content_type = optarg; break;
        case 'T': cfg.token = optarg; break;
        case 'H':
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                die("bad header '%s', want 'Name: value'", optarg);
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        case 'c': cfg.conns = (int)parse_count(optarg, "--connections"); break;
        case 4: cfg.threads = (int)parse_count(optarg, "--threads"); break;
        case 5: cfg.honor_retry_after = true; break;
        case 'n': cfg.total = parse_count(optarg, "--requests"); break;
        case 'd': cfg.duration = parse_seconds(optarg, "--duration"); break;
        case 'w': cfg.warmup = parse_count(optarg, "--warmup"); break;
        case 'e': parse_expect(optarg); break;
        case 2: cfg.timeout = parse_seconds(optarg, "--timeout"); break;
        case 3: cfg.timing_name = optarg; break;
        case 'j': cfg.json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc)
        parse_url(argv[optind++]);
    if (optind < argc)
        die("unexpected argument '%s'", argv[optind]);
    if (cfg.conns < 1 || cfg.conns > 10000)
        die("%s", "--connections must be 1..10000");
    if (cfg.duration > 0 && cfg.total >= 0)
        die("%s", "give --requests or --duration, not both");
    if (cfg.duration <= 0 && cfg.total < 0)
        cfg.total = 1000;
    if (cfg.duration <= 0 && cfg.total == 0)
        die("%s", "--requests must be at least 1");
    if (cfg.duration > 0)
        cfg.total = 0;
    if (cfg.timeout <= 0)
        cfg.timeout = 30;
    if ((body != NULL) + (body_file != NULL) + (bodies_file != NULL) +
        (script_file != NULL) > 1)
        die("%s", "give at most one of --body, --body-file, --bodies, --script");
    if (strpbrk(cfg.method, " \r\n") || strpbrk(cfg.path, " \r\n") ||
        (cfg.token && strpbrk(cfg.token, "\r\n")) ||
        strpbrk(cfg.content_type, "\r\n"))
        die("%s", "method, path, token and content type must not hold spaces or newlines");
    cfg.head = strcmp(cfg.method, "HEAD") == 0;

    if (script_file) {
        size_t len;
        char *text = read_file(script_file, &len);
        build_requests_from_script(text, len);
        free(text);
    } else if (bodies_file) {
        size_t len;
        char *text = read_file(bodies_file, &len);
        build_requests_from_lines(text, len);
        free(text);
    } else {
        cfg.reqs = xmalloc(sizeof *cfg.reqs);
        cfg.nreqs = 1;
        if (body_file) {
            size_t len;
            char *text = read_file(body_file, &len);
            build_request(&cfg.reqs[0], text, len, true);
            free(text);
        } else {
            build_request(&cfg.reqs[0], body ? body : "",
                          body ? strlen(body) : 0, body != NULL);
        }
    }

    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(cfg.host, cfg.port, &hints, &target_ai);
    if (gai != 0)
        die("cannot resolve host: %s", gai_strerror(gai));

    /* Connections are dealt round-robin to the threads. */
    if (cfg.threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = cpus > 0 ? (int)cpus : 1;
    }
    if (cfg.threads > cfg.conns)
        cfg.threads = cfg.conns;
    struct worker *ws = calloc((size_t)cfg.threads, sizeof *ws);
    struct conn *cs = calloc((size_t)cfg.conns, sizeof *cs);
    if (!ws || !cs)
        die("%s", "out of memory");
    for (int i = 0; i < cfg.threads; i++) {
        ws[i].epfd = epoll_create1(EPOLL_CLOEXEC);
        if (ws[i].epfd < 0)
            die("epoll_create1: %s", strerror(errno));
        ws[i].conns = cs + (size_t)cfg.conns * (size_t)i / (size_t)cfg.threads;
        ws[i].nconns = (int)((size_t)cfg.conns * (size_t)(i + 1) / (size_t)cfg.threads -
                             (size_t)cfg.conns * (size_t)i / (size_t)cfg.threads);
        for (int k = 0; k < ws[i].nconns; k++) {
            ws[i].conns[k].w = &ws[i];
            ws[i].conns[k].fd = -1;
        }
    }
    if (pthread_barrier_init(&barrier, NULL, (unsigned)cfg.threads + 1) != 0)
        die("%s", "pthread_barrier_init failed");
    for (int i = 0; i < cfg.threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            die("%s", "pthread_create failed");
    pthread_barrier_wait(&barrier);
    double t0 = now_s();
    deadline = t0 + cfg.duration;
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(ws[i].thread, NULL);
    double secs = now_s() - t0;

    /* merge */
    struct samples client = {0}, server = {0}, refused = {0};
    struct samples kind[4] = {{0}};    /* client_w, server_w, client_r, server_r */
    static long long status_n[600];
    long long ok = 0, http_err = 0, io_err = 0, connects = 0, cls[6] = {0};
    double connect_max = 0;
    for (int i = 0; i < cfg.threads; i++) {
        struct worker *w = &ws[i];
        ok += w->ok;
        http_err += w->http_errors;
        io_err += w->io_errors;
        connects += w->connects;
        if (w->connect_max_s > connect_max)
            connect_max = w->connect_max_s;
        for (int k = 0; k < 6; k++)
            cls[k] += w->status_class[k];
        for (int k = 100; k < 600; k++)
            status_n[k] += w->status_n[k];
        for (size_t k = 0; k < w->refused.n; k++)
            samples_add(&refused, w->refused.v[k]);
        free(w->refused.v);
        for (size_t k = 0; k < w->client.n; k++)
            samples_add(&client, w->client.v[k]);
        for (size_t k = 0; k < w->server.n; k++)
            samples_add(&server, w->server.v[k]);
        struct samples *mine[4] = {&w->client_w, &w->server_w, &w->client_r, &w->server_r};
        for (int m = 0; m < 4; m++) {
            for (size_t k = 0; k < mine[m]->n; k++)
                samples_add(&kind[m], mine[m]->v[k]);
            free(mine[m]->v);
        }
        free(w->client.v);
        free(w->server.v);
        close(w->epfd);
    }
    qsort(client.v, client.n, sizeof *client.v, cmp_double);
    qsort(server.v, server.n, sizeof *server.v, cmp_double);
    qsort(refused.v, refused.n, sizeof *refused.v, cmp_double);
    for (int m = 0; m < 4; m++)
        qsort(kind[m].v, kind[m].n, sizeof *kind[m].v, cmp_double);

    bool j = cfg.json, first = true;
    if (j)
        fputs("{", stdout);
    put_num(j, &first, "requests", (double)(ok + http_err + io_err), 0);
    put_num(j, &first, "ok", (double)ok, 0);
    put_num(j, &first, "errors", (double)(http_err + io_err), 0);
    put_num(j, &first, "http_errors", (double)http_err, 0);
    put_num(j, &first, "io_errors", (double)io_err, 0);
    put_num(j, &first, "connections", (double)cfg.conns, 0);
    put_num(j, &first, "threads", (double)cfg.threads, 0);
    put_num(j, &first, "connects", (double)connects, 0);
    put_num(j, &first, "connect_max_ms", connect_max * 1000.0, 1);
    put_num(j, &first, "seconds", secs, 4);
    put_num(j, &first, "req_per_s", secs > 0 ? (double)ok / secs : NAN, 1);
    put_num(j, &first, "client_p50_ms", percentile(&client, 50), 4);
    put_num(j, &first, "client_p90_ms", percentile(&client, 90), 4);
    put_num(j, &first, "client_p99_ms", percentile(&client, 99), 4);
    put_num(j, &first, "client_max_ms", percentile(&client, 100), 4);
    put_num(j, &first, "client_mean_ms", mean(&client), 4);
    put_num(j, &first, "server_samples", (double)server.n, 0);
    put_num(j, &first, "server_p50_ms", percentile(&server, 50), 4);
    put_num(j, &first, "server_p90_ms", percentile(&server, 90), 4);
    put_num(j, &first, "server_p99_ms", percentile(&server, 99), 4);
    put_num(j, &first, "server_max_ms", percentile(&server, 100), 4);
    /* by kind, when the script mixed GET with other methods */
    if (kind[0].n && kind[2].n) {
        static const char *const kind_key[4] = {"client_write", "server_write",
                                                "client_read", "server_read"};
        for (int m = 0; m < 4; m++) {
            char key[40];
            snprintf(key, sizeof key, "%s_n", kind_key[m]);
            put_num(j, &first, key, (double)kind[m].n, 0);
            snprintf(key, sizeof key, "%s_p50_ms", kind_key[m]);
            put_num(j, &first, key, percentile(&kind[m], 50), 4);
            snprintf(key, sizeof key, "%s_p99_ms", kind_key[m]);
            put_num(j, &first, key, percentile(&kind[m], 99), 4);
        }
    }
    static const char *const cls_key[6] = {"status_other", "status_1xx",
        "status_2xx", "status_3xx", "status_4xx", "status_5xx"};
    for (int k = 2; k <= 5; k++)
        put_num(j, &first, cls_key[k], (double)cls[k], 0);
    put_num(j, &first, cls_key[0], (double)(cls[0] + cls[1]), 0);
    /* every status seen, and the latency of the unexpected ones (a
     * refusal such as 503 should be fast) */
    for (int k = 100; k < 600; k++) {
        if (status_n[k]) {
            char key[16];
            snprintf(key, sizeof key, "status_%d", k);
            put_num(j, &first, key, (double)status_n[k], 0);
        }
    }
    if (refused.n) {
        put_num(j, &first, "refused_p50_ms", percentile(&refused, 50), 4);
        put_num(j, &first, "refused_p99_ms", percentile(&refused, 99), 4);
    }
    puts(j ? "}" : "");

    for (int m = 0; m < 4; m++)
        free(kind[m].v);
    free(client.v);
    free(refused.v);
    free(server.v);
    for (size_t i = 0; i < cfg.nreqs; i++)
        free(cfg.reqs[i].data);
    free(cfg.reqs);
    free(cfg.headers);
    free(ws);
    free(cs);
    freeaddrinfo(target_ai);
    pthread_barrier_destroy(&barrier);
    return http_err + io_err > 0 ? 2 : 0;
}
