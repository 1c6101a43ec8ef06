/*
 * extract_spawn.c — the extraction child (extract.h): the server side
 * that starts `personalos extract-text` under limits and reads its answer,
 * and the child's main, which confines itself with seccomp before it
 * parses a byte.
 */
#include "files/extract.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "files/thumb.h"

extern char **environ;

#define ERR_MAX 512

/* Copies the blob's plaintext into a memfd (memory, never the disk). */
static int blob_to_memfd(struct pos_blob_reader *rd, uint64_t size)
{
	int fd = memfd_create("pos-extract", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	char *buf = pos_malloc(POS_BLOB_CHUNK);
	if (!buf) {
		close(fd);
		return -1;
	}
	uint64_t off = 0;
	while (off < size) {
		size_t got;
		if (pos_blob_read(rd, off, buf, POS_BLOB_CHUNK, &got) || got == 0)
			goto fail;
		for (size_t w = 0; w < got;) {
			ssize_t r = write(fd, buf + w, got - w);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto fail;
			w += (size_t)r;
		}
		off += got;
	}
	pos_free(buf);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
fail:
	pos_free(buf);
	close(fd);
	return -1;
}

static void child_limits(const struct pos_extract_limits *lim)
{
	struct rlimit r;
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer reserves terabytes of shadow address space: under
	 * it (make test's second build) the address-space cap would kill
	 * every extraction, so only that build goes without it. */
	r.rlim_cur = r.rlim_max = (rlim_t)lim->memory_mib << 20;
	setrlimit(RLIMIT_AS, &r);
#endif
	r.rlim_cur = r.rlim_max = (rlim_t)lim->timeout_s + 1;
	setrlimit(RLIMIT_CPU, &r);
	r.rlim_cur = r.rlim_max = 0;
	setrlimit(RLIMIT_FSIZE, &r);
	setrlimit(RLIMIT_CORE, &r);
	r.rlim_cur = r.rlim_max = 64;
	setrlimit(RLIMIT_NOFILE, &r);
}

enum pos_err pos_extract_thumbnail(const struct pos_extract_limits *lim, const char *mime,
				   struct pos_blob_reader *rd, uint64_t size, struct pos_buf *out,
				   struct pos_error *err)
{
	char type[160];
	unsigned pages;
	if (!pos_thumb_supported(mime) || strlen(mime) > sizeof(type) - 7)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "no thumbnail for this type");
	snprintf(type, sizeof(type), "thumb:%s", mime);
	return pos_extract_spawn(lim, type, rd, size, out, &pages, err);
}

enum pos_err pos_extract_spawn(const struct pos_extract_limits *lim, const char *mime,
			       struct pos_blob_reader *rd, uint64_t size, struct pos_buf *out,
			       unsigned *pages, struct pos_error *err)
{
	int in = -1, po[2] = {-1, -1}, pe[2] = {-1, -1};
	pid_t pid = -1;
	enum pos_err rc = POS_OK;
	char errbuf[ERR_MAX + 1];
	size_t errlen = 0;
	*pages = 0;
	in = blob_to_memfd(rd, size);
	if (in < 0)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "cannot start text extraction");
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "cannot start text extraction");
		goto out;
	}
	char a_pages[24], a_pixels[24], a_max[24];
	snprintf(a_pages, sizeof(a_pages), "%u", lim->pages);
	snprintf(a_pixels, sizeof(a_pixels), "%llu", (unsigned long long)lim->pixels);
	snprintf(a_max, sizeof(a_max), "%zu", lim->text_max);
	char *argv[] = {"personalos", "extract-text", (char *)mime, a_pages, a_pixels, a_max, NULL};
	pid = fork();
	if (pid < 0) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "cannot start text extraction");
		goto out;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here to exec */
		if (dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(4);
		child_limits(lim);
		execve("/proc/self/exe", argv, environ);
		_exit(4);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	close(in);
	in = -1;
	int64_t deadline = pos_mono_us() + (int64_t)lim->timeout_s * 1000000;
	bool out_open = true, err_open = true, killed = false, too_much = false;
	char chunk[65536];
	while (out_open || err_open) {
		int64_t left = deadline - pos_mono_us();
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd pf[2] = {{.fd = out_open ? po[0] : -1, .events = POLLIN},
				       {.fd = err_open ? pe[0] : -1, .events = POLLIN}};
		int pr = poll(pf, 2, (int)(left / 1000) + 1);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (pf[0].revents) {
			ssize_t r = read(po[0], chunk, sizeof(chunk));
			if (r <= 0) {
				out_open = false;
			} else if (!too_much && pos_buf_add(out, chunk, (size_t)r) != POS_OK) {
				too_much = true; /* the child keeps to text_max; this is a guard */
			}
		}
		if (pf[1].revents) {
			ssize_t r = read(pe[0], chunk, sizeof(chunk));
			if (r <= 0) {
				err_open = false;
			} else {
				/* the last ERR_MAX bytes: the child's own error line
				 * comes after any library's chatter */
				size_t n = (size_t)r;
				if (n >= ERR_MAX) {
					memcpy(errbuf, chunk + n - ERR_MAX, ERR_MAX);
					errlen = ERR_MAX;
				} else {
					if (errlen + n > ERR_MAX) {
						size_t drop = errlen + n - ERR_MAX;
						memmove(errbuf, errbuf + drop, errlen - drop);
						errlen -= drop;
					}
					memcpy(errbuf + errlen, chunk, n);
					errlen += n;
				}
			}
		}
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	/* the last non-empty line */
	while (errlen && (errbuf[errlen - 1] == '\n' || errbuf[errlen - 1] == '\r'))
		errlen--;
	errbuf[errlen] = '\0';
	char *nl = strrchr(errbuf, '\n');
	if (nl)
		memmove(errbuf, nl + 1, strlen(nl + 1) + 1);
	if (killed) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				   "text extraction took longer than %u s (extract_timeout)",
				   lim->timeout_s);
	} else if (WIFSIGNALED(status)) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				   "text extraction was stopped (signal %d: a memory or CPU limit)",
				   WTERMSIG(status));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 4;
		enum pos_err e = code == 2 ? POS_ERR_CONTENT_TOO_LARGE
				 : code == 3 ? POS_ERR_INVALID_FIELD
					     : POS_ERR_UNAVAILABLE;
		rc = pos_error_set(err, e, NULL, "%s", errbuf[0] ? errbuf : "text extraction failed");
	}
	if (rc)
		goto out;
	if (strncmp(mime, "thumb:", 6) == 0) {
		*pages = 1; /* a PNG, not text */
		goto out;
	}
	/* '\f' between pages: markers when there are several */
	size_t npages = 1;
	for (size_t i = 0; i < out->len; i++)
		npages += out->data[i] == '\f';
	*pages = (unsigned)npages;
	if (npages > 1) {
		struct pos_buf m;
		pos_buf_init(&m, out->max);
		unsigned page = 1;
		char mark[32];
		int ml = snprintf(mark, sizeof(mark), "[page %u]\n", page);
		(void)pos_buf_add(&m, mark, (size_t)ml);
		for (size_t i = 0; i < out->len; i++) {
			if (out->data[i] == '\f') {
				ml = snprintf(mark, sizeof(mark), "\n[page %u]\n", ++page);
				(void)pos_buf_add(&m, mark, (size_t)ml);
			} else {
				(void)pos_buf_add(&m, out->data + i, 1);
			}
		}
		pos_buf_free(out);
		*out = m;
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (in >= 0)
		close(in);
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return rc;
}

/* ---- the child -------------------------------------------------------- */

/*
 * Allows what parsing, OCR and libvips threads and reading data files
 * (Tesseract's traineddata, fonts, libvips' modules) need; everything
 * else — sockets, exec, writing files, signals to others — fails with
 * EPERM.
 */
static int confine(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -1;
	/* every thread of the process, should a library have started one */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		goto fail;
	static const int allow[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(fstat),
		SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat), SCMP_SYS(lstat),
		SCMP_SYS(lseek), SCMP_SYS(pread64), SCMP_SYS(mmap), SCMP_SYS(munmap),
		SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise),
		SCMP_SYS(futex), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(clone),
		SCMP_SYS(clone3), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(getrandom), SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_yield),
		SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(prlimit64), SCMP_SYS(sysinfo),
		SCMP_SYS(uname), SCMP_SYS(readlink), SCMP_SYS(getcwd), SCMP_SYS(fcntl),
		SCMP_SYS(getdents64), SCMP_SYS(access), SCMP_SYS(faccessat),
		SCMP_SYS(faccessat2), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
		SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(getuid),
		SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(ioctl),
		SCMP_SYS(sigaltstack), SCMP_SYS(membarrier), SCMP_SYS(writev),
		SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(eventfd2), SCMP_SYS(pipe2),
	};
	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
		if (allow[i] >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0) != 0)
			goto fail;
	/* files may be opened for reading only */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
			     SCMP_A1(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)) != 0)
		goto fail;
	if (seccomp_load(ctx) != 0)
		goto fail;
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

static bool parse_u64(const char *s, unsigned long long *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return s[0] && !*end && errno == 0;
}

int pos_extract_child_main(int argc, char **argv)
{
	unsigned long long pages, pixels, tmax;
	if (argc != 6 || !parse_u64(argv[3], &pages) || !parse_u64(argv[4], &pixels) ||
	    !parse_u64(argv[5], &tmax) || pages > UINT32_MAX) {
		fputs("usage: personalos extract-text TYPE PAGES PIXELS TEXT_MAX < FILE\n"
		      "(run by the server for each uploaded file; not meant for people)\n", stderr);
		return 4;
	}
	/* the file: at most 1 GiB (file_max's own bound) */
	struct pos_buf in;
	pos_buf_init(&in, (size_t)1 << 30);
	char chunk[65536];
	for (;;) {
		ssize_t r = read(0, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fputs("cannot read the file\n", stderr);
			return 4;
		}
		if (r == 0)
			break;
		if (pos_buf_add(&in, chunk, (size_t)r) != POS_OK) {
			fputs("the file is too large\n", stderr);
			return 2;
		}
	}
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer's check at exit stops the world with ptrace, which the
	 * filter below denies (it would spin): under the sanitizer build the
	 * check runs now, once, before confinement. */
	__lsan_do_leak_check();
#endif
	if (confine() != 0) {
		fputs("cannot confine the extractor (seccomp)\n", stderr);
		return 4;
	}
	struct pos_extract_limits lim = {.pages = (unsigned)pages, .pixels = pixels,
					 .text_max = (size_t)tmax};
	struct pos_buf out;
	bool thumb = strncmp(argv[2], "thumb:", 6) == 0;
	pos_buf_init(&out, thumb ? POS_THUMB_MAX : (size_t)tmax + 16);
	unsigned np;
	struct pos_error err;
	pos_error_clear(&err);
	const uint8_t *bytes = (const uint8_t *)(in.data ? in.data : "");
	enum pos_err rc = thumb ? pos_thumb_render(argv[2] + 6, bytes, in.len, pixels, &out, &err)
				: pos_extract_text(&lim, argv[2], bytes, in.len, &out, &np, &err);
	if (rc) {
		fprintf(stderr, "%s\n", err.message[0] ? err.message : pos_strerror(rc));
		return rc == POS_ERR_CONTENT_TOO_LARGE ? 2 : rc == POS_ERR_INVALID_FIELD ? 3 : 4;
	}
	if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
		return 4;
	fflush(stdout);
	return 0;
}
