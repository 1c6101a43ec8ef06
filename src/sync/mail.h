/*
 * mail.h — one RFC 822 message into a sync item (GMime 3), shared by the
 * mbox, maildir and imap adapters. Internal to src/sync.
 *
 * The item: type "email"; content "From: …\nSubject: …\nDate: …\n\n<body>"
 * with the text part preferred, HTML converted to text, charsets and
 * RFC 2047 words decoded to UTF-8; a body longer than `max_body` bytes is
 * cut and the whole message kept as the attachment; metadata {email_id,
 * sender, subject, thread}; external_id the Message-ID (without <>), or
 * "sha256:<hex>" of the message when it has none; version a hash of the
 * message bytes.
 */
#ifndef POS_SYNC_MAIL_H
#define POS_SYNC_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sync/adapter.h"

#define POS_MAIL_BODY_DEFAULT (64 * 1024)
#define POS_MAIL_BODY_MIN 1024
#define POS_MAIL_BODY_MAX (1024 * 1024)
#define POS_MAIL_MESSAGE_MAX (64 * 1024 * 1024) /* bigger messages are skipped */

struct pos_mail {
	struct pos_sync_item item;  /* points into the fields below */
	char *external_id, *content, *version;
	json_t *metadata;
	const void *raw;            /* borrowed: the message bytes */
	size_t raw_len;
	/* the message's attachments (parts with a file name or an attachment
	 * disposition, decoded; names and bytes malloc'd), item.files; a
	 * forwarded message (a message/rfc822 part) is one too, whole, named
	 * "<its name or subject>.eml" (never "message.eml", the name sync
	 * keeps the original under), with forwarded[i] set */
	struct pos_sync_file files[POS_SYNC_FILES_MAX];
	bool forwarded[POS_SYNC_FILES_MAX];
	size_t n_files;
};

/* Makes GMime ready (idempotent; call before threads parse). */
void pos_mail_init(void);

/*
 * Parses `raw` into `out`. False with `reason` (a short text) when the
 * message is malformed: empty, or without any of From, Subject, Date or
 * Message-ID. `extra` (borrowed object or NULL) is merged into the metadata.
 */
bool pos_mail_parse(const char *raw, size_t len, size_t max_body, const json_t *extra,
		    struct pos_mail *out, char *reason, size_t reason_len);
void pos_mail_free(struct pos_mail *m);

/* HTML to plain text (tags dropped, block ends as newlines, entities
 * decoded, script/style skipped). malloc'd, NUL-terminated. */
char *pos_html_to_text(const char *html, size_t len, size_t *out_len);

/* Reads config "max_body_bytes" (absent: the default). false when invalid. */
bool pos_mail_max_body(const json_t *config, size_t *out);

#endif
