/*
 * export.c — `personalos export --user EMAIL --format F -o FILE` and
 * `personalos import [FORMAT] FILE --user EMAIL` (issue 14,
 * docs/EXPORT.md) against the data directory: the same export and import
 * services the API runs as jobs, here in the foreground with a progress
 * bar on a terminal. Encrypted accounts are refused (their key is only
 * ever unlocked by a login to the server: use the API). Imported memories
 * get their embeddings from the server's background worker when it next
 * runs.
 */
#include "cli/cli.h"

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "export/export.h"
#include "export/import.h"
#include "export/seal.h"
#include "files/files.h"
#include "store/store.h"
#include "store/open.h"

struct bar {
	bool tty;
	const char *unit;
};

static void draw(void *ctx, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	if (!b->tty)
		return;
	if (total) {
		int w = 30, fill = (int)(done * (uint64_t)w / total);
		if (fill > w)
			fill = w;
		fprintf(stderr, "\r[%.*s%*s] %llu/%llu %s", fill, "##############################",
			w - fill, "", (unsigned long long)done, (unsigned long long)total, b->unit);
	} else {
		fprintf(stderr, "\r%llu %s", (unsigned long long)done, b->unit);
	}
	fflush(stderr);
}

/* The passphrase for a sealed file: the first line of `file`, else
 * PERSONALOS_EXPORT_PASSPHRASE, else NULL. Never from the command line
 * (other users see it in ps). */
static const char *passphrase_of(const char *file, char *buf, size_t cap)
{
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f || !fgets(buf, (int)cap, f)) {
			if (f)
				fclose(f);
			return NULL;
		}
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		return buf;
	}
	const char *e = getenv("PERSONALOS_EXPORT_PASSPHRASE");
	if (!e)
		return NULL;
	snprintf(buf, cap, "%s", e);
	return buf;
}

/* Opens the store and finds the account (the only one when email is
 * NULL); refuses encrypted accounts. Prints the problem and returns 1. */
/* The Markdown zip's attachment files: the owner's own, through the files
 * service (read only here). */
static enum pos_err cli_open_file(void *ctx, struct pos_arena *a, const char *user_id,
				  const char *attachment_id, struct pos_blob_reader **rd,
				  uint64_t *size, int64_t *created_at)
{
	struct pos_attachment att;
	enum pos_err rc = pos_files_open(ctx, a, user_id, attachment_id, &att, rd, size);
	if (!rc && strcmp(att.user_id, user_id)) {
		pos_blob_close(*rd);
		*rd = NULL;
		rc = POS_ERR_NOT_FOUND;
	}
	if (!rc)
		*created_at = att.created_at;
	return rc;
}

static int open_user(const struct pos_config *cfg, const char *email, struct pos_store **st,
		     struct pos_arena *a, struct pos_user *u)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_crypto_init() || pos_store_open(cfg, st, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message[0] ? err.message : "cannot start");
		return 1;
	}
	if (email) {
		char low[320];
		size_t n = strlen(email);
		if (n >= sizeof(low)) {
			fprintf(stderr, "personalos: no such user\n");
			return 1;
		}
		for (size_t i = 0; i <= n; i++)
			low[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
		if ((*st)->accounts->user_by_email(*st, a, low, u)) {
			fprintf(stderr, "personalos: no user %s in %s\n", email, cfg->data_dir);
			return 1;
		}
	} else {
		struct pos_user *all;
		size_t n;
		if ((*st)->accounts->user_list(*st, a, &all, &n) || n != 1) {
			fprintf(stderr, "personalos: say which account with --user EMAIL\n");
			return 1;
		}
		*u = all[0];
	}
	struct pos_user_crypt c;
	if ((*st)->keys->crypt_get(*st, a, u->id, &c) == POS_OK && c.state && strcmp(c.state, "off")) {
		fprintf(stderr, "personalos: %s is encrypted at rest: export or import through the "
				"API after logging in (docs/EXPORT.md)\n",
			u->email);
		return 1;
	}
	return 0;
}

int pos_cli_export(int argc, char **argv)
{
	const char *usage = "usage: personalos export [--user EMAIL] --format json|jsonl|markdown|csv\n"
			    "         -o FILE [--include a,b] [--folders type|date] [--seal]\n"
			    "         [--passphrase-file FILE] [--data DIR]\n";
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, usage);
	if (rc)
		return rc;
	const char *email = NULL, *format = NULL, *out = NULL, *include = NULL, *folders = NULL;
	const char *pfile = NULL;
	bool seal = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seal")) {
			seal = true;
			continue;
		}
		const char **slot = !strcmp(argv[i], "--user")	      ? &email
				    : !strcmp(argv[i], "--format")    ? &format
				    : !strcmp(argv[i], "-o")	      ? &out
				    : !strcmp(argv[i], "--output")    ? &out
				    : !strcmp(argv[i], "--include")   ? &include
				    : !strcmp(argv[i], "--folders")   ? &folders
				    : !strcmp(argv[i], "--passphrase-file") ? &pfile
								      : NULL;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr, "personalos export: unexpected argument '%s'\n%s", argv[i], usage);
			return 2;
		}
		*slot = argv[++i];
	}
	if (!format || !out) {
		fputs(usage, stderr);
		return 2;
	}
	json_t *body = json_pack("{s:s}", "format", format);
	char pass[POS_SEAL_PASSPHRASE_MAX + 2];
	if (seal || pfile) {
		const char *p = passphrase_of(pfile, pass, sizeof(pass));
		if (!p) {
			fprintf(stderr, "personalos export: --seal needs a passphrase: --passphrase-file "
					"FILE or PERSONALOS_EXPORT_PASSPHRASE\n");
			json_decref(body);
			return 2;
		}
		json_object_set_new(body, "passphrase", json_string(p));
		sodium_memzero(pass, sizeof(pass));
	}
	if (folders)
		json_object_set_new(body, "folders", json_string(folders));
	if (include) {
		json_t *arr = json_array();
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", include);
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(arr, json_string(t));
		json_object_set_new(body, "include", arr);
	}
	struct pos_store *st = NULL;
	struct pos_arena *a = pos_arena_new();
	struct pos_user u;
	int status = 1, fd = -1;
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_export_request req;
	if (!a || open_user(&cfg, email, &st, a, &u))
		goto out;
	if (pos_export_request_parse(a, u.id, body, &req, &err)) {
		fprintf(stderr, "personalos export: %s\n", err.message);
		status = 2;
		goto out;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "personalos export: cannot write %s\n", out);
		goto out;
	}
	struct bar b = {isatty(2) != 0, "memories"};
	struct pos_files files;
	memset(&files, 0, sizeof(files));
	bool with_files = req.format == POS_EXPORT_MARKDOWN &&
			  pos_files_init(&files, &cfg, st, NULL, &err) == POS_OK;
	pos_error_clear(&err);
	struct pos_export_hooks h = {.progress = draw, .ctx = &b,
				     .open_file = with_files ? cli_open_file : NULL,
				     .files_ctx = &files};
	struct pos_export_result res = {0};
	rc = pos_export_write(st, u.id, &req, fd, &h, &res, &err);
	pos_files_free(&files);
	if (b.tty)
		fputc('\n', stderr);
	if (rc || fsync(fd)) {
		fprintf(stderr, "personalos export: %s\n", err.message[0] ? err.message : pos_strerror(rc));
		close(fd);
		fd = -1;
		unlink(out);
		goto out;
	}
	printf("exported %llu memories of %s to %s (%llu bytes)\n", (unsigned long long)res.items,
	       u.email, out, (unsigned long long)res.bytes);
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	json_decref(body);
	pos_store_close(st);
	pos_arena_destroy(a);
	return status;
}

/* The format of `path` from its name and first bytes, -1 if unknown. */
static int guess_format(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char head[4096];
	size_t n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[n] = '\0';
	const char *ext = strrchr(path, '.');
	if (n >= 8 && memcmp(head, "POSSEAL1", 8) == 0) { /* sealed: by the name */
		static const char *const by_ext[][2] = {
			{".json", "json"}, {".jsonl", "jsonl"}, {".zip", "markdown"}, {".csv", "csv"}};
		for (size_t i = 0; ext && i < sizeof(by_ext) / sizeof(by_ext[0]); i++)
			if (!strcasecmp(ext, by_ext[i][0]))
				return pos_import_format_parse(by_ext[i][1]);
		return -1;
	}
	if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) {
		if (memmem(head, n, "_personalos/", 12))
			return POS_IMPORT_MARKDOWN;
		if (memmem(head, n, "Keep/", 5))
			return POS_IMPORT_KEEP;
		return POS_IMPORT_OBSIDIAN;
	}
	if (ext && !strcasecmp(ext, ".csv"))
		return POS_IMPORT_CSV;
	if (strstr(head, "\"personalos-export\""))
		return strstr(head, "\"record\"") ? POS_IMPORT_JSONL : POS_IMPORT_JSON;
	if (strstr(head, "\"mapping\"") || strstr(head, "\"current_node\""))
		return POS_IMPORT_CHATGPT;
	if (strstr(head, "\"chat_messages\""))
		return POS_IMPORT_CLAUDE;
	if (strstr(head, "\"textContent\"") || strstr(head, "\"listContent\""))
		return POS_IMPORT_KEEP;
	return -1;
}

static void item_error(void *ctx, uint64_t pos, enum pos_err code, const char *msg)
{
	unsigned *n = ctx;
	if ((*n)++ < 20)
		fprintf(stderr, "\nitem %llu skipped: %s", (unsigned long long)pos, msg);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct bar b = {true, "bytes"};
	if (isatty(2))
		draw(&b, done, total);
}

int pos_cli_import_file(const struct pos_config *cfg, const char *format, const char *path,
			const char *email, const char *passphrase_file)
{
	char pass[POS_SEAL_PASSPHRASE_MAX + 2];
	const char *passphrase = passphrase_of(passphrase_file, pass, sizeof(pass));
	int fmt = format ? pos_import_format_parse(format) : guess_format(path);
	if (fmt < 0) {
		fprintf(stderr, "personalos import: %s: say which format with --format (json, jsonl, "
				"markdown, obsidian, chatgpt, claude, takeout-keep, csv)\n",
			path);
		return 2;
	}
	struct pos_store *st = NULL;
	struct pos_arena *a = pos_arena_new();
	struct pos_user u;
	int status = 1;
	if (!a || open_user(cfg, email, &st, a, &u))
		goto out;
	struct pos_memsvc svc = {.store = st};
	unsigned errors = 0;
	struct pos_import_hooks h = {.progress = progress, .item_error = item_error, .ctx = &errors};
	struct pos_import_result res;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_import_run(&svc, u.id, (enum pos_import_format)fmt, path, passphrase,
					&h, &res, &err);
	if (isatty(2) || errors)
		fputc('\n', stderr);
	printf("imported %s (%s) into %s: %llu added, %llu unchanged, %llu skipped, "
	       "%llu conversations%s%s\n",
	       path, pos_import_format_name((enum pos_import_format)fmt), u.email,
	       (unsigned long long)res.added, (unsigned long long)res.unchanged,
	       (unsigned long long)res.skipped, (unsigned long long)res.conversations,
	       res.persona ? ", persona" : "", res.settings ? ", settings" : "");
	if (rc) {
		fprintf(stderr, "personalos import: failed: %s\n",
			err.message[0] ? err.message : pos_strerror(rc));
		goto out;
	}
	status = 0;
out:
	sodium_memzero(pass, sizeof(pass));
	pos_store_close(st);
	pos_arena_destroy(a);
	return status;
}
