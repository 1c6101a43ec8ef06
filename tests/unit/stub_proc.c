/*
 * stub_proc.c — a stand-in server process for unit tests (stub_proc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stub_proc.h"

int pos_stub_start(struct pos_stub *s, const char *env_script, const char *script,
		   const char *const *extra)
{
	const char *path = env_script ? getenv(env_script) : NULL;
	if (!path)
		path = script;
	const char *python = getenv("POS_PYTHON");
	if (!python)
		python = "python3";
	const char *argv[16] = {python, path, "--port", "0"};
	size_t argc = 4;
	for (size_t i = 0; extra && extra[i] && argc < 15; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	int fd[2];
	if (pipe(fd))
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		/* A crashed or aborted test must not leave the stub running. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execvp(python, (char *const *)argv);
		fprintf(stderr, "cannot run %s %s: %s\n", python, path, strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	char line[64];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		struct pollfd p = {fd[0], POLLIN, 0};
		if (poll(&p, 1, 30000) <= 0)
			break;
		ssize_t r = read(fd[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(fd[0]);
	char *end;
	long port = strncmp(line, "PORT ", 5) == 0 ? strtol(line + 5, &end, 10) : 0;
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "%s did not start (got \"%s\")\n", path, line);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
		return -1;
	}
	snprintf(s->root, sizeof(s->root), "http://127.0.0.1:%ld", port);
	return 0;
}

int pos_stub_stop(struct pos_stub *s)
{
	int status = 0;
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	pid_t pid = s->pid;
	s->pid = -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

struct body {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *d = realloc(b->data, b->len + size * n + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, size * n);
	b->data = d;
	b->len += size * n;
	d[b->len] = '\0';
	return size * n;
}

char *pos_stub_http(const struct pos_stub *s, const char *path, const char *post,
		    long *status)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", s->root, path);
	struct body b = {calloc(1, 1), 0};
	CURL *h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (post)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	return b.data;
}
