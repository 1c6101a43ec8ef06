/*
 * serve.c — `personalos serve`: check the server's settings, build the
 * app (app/app.h), start the server with it, wait for SIGINT or SIGTERM,
 * stop gracefully.
 */
#include "cli/cli.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "api/api.h"
#include "app/app.h"
#include "base/clock.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "embed/openai.h"
#include "http/server.h"

int pos_cli_serve(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos serve --help\n");
	if (rc)
		return rc;
	if (argc > 1) {
		fprintf(stderr, "personalos serve: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	if (pos_crypto_init()) {
		fprintf(stderr, "personalos: libsodium failed to initialise\n");
		return 1;
	}
	/* libcurl's one process-wide set-up, before any thread starts. */
	if (pos_embed_openai_global_init()) {
		fprintf(stderr, "personalos: libcurl failed to initialise\n");
		return 1;
	}
	/* Block the stop signals before any thread starts, so every worker
	 * inherits the mask and only sigwait below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The server's own settings are checked first (nothing opened yet),
	 * then the app is built, then the server listens with it. */
	struct pos_server srv;
	struct pos_app app;
	struct pos_error err;
	pos_error_clear(&err);
	int64_t t0 = pos_mono_us();
	if (pos_server_init(&srv, &cfg, pos_api_routes, pos_api_routes_count, &err)) {
		pos_error_log("cannot start: %s", err.message);
		return 1;
	}
	if (pos_app_start(&app, &cfg, &err)) {
		pos_server_stop(&srv);
		pos_error_log("cannot start: %s", err.message);
		return 1;
	}
	if (pos_server_start(&srv, &app, &err)) {
		pos_server_stop(&srv);
		pos_app_stop(&app);
		pos_error_log("cannot start: %s", err.message);
		return 1;
	}
	pos_info("PersonalOS %s listening on http://%s%s%s:%u (data: %s, ready in %.1f ms)",
		 POS_VERSION, strchr(cfg.listen_host, ':') ? "[" : "", cfg.listen_host,
		 strchr(cfg.listen_host, ':') ? "]" : "", srv.port, cfg.data_dir,
		 (double)(pos_mono_us() - t0) / 1000.0);
	int sig = 0;
	sigwait(&stop, &sig);
	pos_info("received %s: finishing in-flight requests",
		 sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* The stop sequence (docs/OPERATIONS.md, "Stopping"): queued requests
	 * are refused at once and running ones finish; model calls still
	 * running are cancelled and their parked connections answered before
	 * the daemon goes; jobs stop at their next check and are queued again;
	 * then the services stop in reverse order and the store checkpoints.
	 * Each phase's time is logged, so a slow stop says where it was. */
	int64_t s0 = pos_mono_us();
	pos_server_drain(&srv);
	int64_t s1 = pos_mono_us();
	pos_app_quiesce(&app);
	int64_t s2 = pos_mono_us();
	pos_server_stop(&srv);
	int64_t s3 = pos_mono_us();
	pos_app_stop(&app);
	int64_t s4 = pos_mono_us();
	pos_embed_openai_global_cleanup();
	pos_info("stopped cleanly in %.2f s (requests %.2f s, jobs %.2f s, connections %.2f s, "
		 "services and store %.2f s)",
		 (double)(s4 - s0) / 1e6, (double)(s1 - s0) / 1e6, (double)(s2 - s1) / 1e6,
		 (double)(s3 - s2) / 1e6, (double)(s4 - s3) / 1e6);
	return 0;
}
