/*
 * stub_proc.h — for unit tests that talk to a stand-in server from
 * tests/stubs/ (openai_stub.py, memu_stub.py): start it on a free port,
 * stop it, and call its control endpoints. Every stand-in prints
 * "PORT <n>" first and stops with exit status 0 on SIGTERM.
 */
#ifndef POS_TEST_STUB_PROC_H
#define POS_TEST_STUB_PROC_H

#include <sys/types.h>

struct pos_stub {
	pid_t pid;
	char root[64];  /* "http://127.0.0.1:PORT" */
};

/*
 * Starts `python3 SCRIPT --port 0 EXTRA...` (python from $POS_PYTHON, the
 * script from $env_script or `script`, relative to the working directory)
 * and waits for its port. 0 on success, -1 after printing why.
 */
int pos_stub_start(struct pos_stub *s, const char *env_script, const char *script,
		   const char *const *extra);
/* SIGTERM and wait: 0 when it exited cleanly (or never started). */
int pos_stub_stop(struct pos_stub *s);
/* GET (post NULL) or POST a JSON text to the stub; returns the body (free
 * it) and sets *status. Fails the test on a transport error. */
char *pos_stub_http(const struct pos_stub *s, const char *path, const char *post,
		    long *status);

#endif
