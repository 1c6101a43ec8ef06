/*
 * accounts.c — the accounts service (accounts.h).
 */
#include "auth/accounts.h"

#include "base/clock.h"
#include "base/uuid.h"

enum pos_err pos_accounts_get(const struct pos_accounts *acc, struct pos_arena *a,
			      const char *user_id, struct pos_user *out)
{
	return acc->store->accounts->user_by_id(acc->store, a, user_id, out);
}

enum pos_err pos_accounts_by_email(const struct pos_accounts *acc, struct pos_arena *a,
				   const char *email, struct pos_user *out)
{
	return acc->store->accounts->user_by_email(acc->store, a, email, out);
}

enum pos_err pos_accounts_usage(const struct pos_accounts *acc, const char *user_id,
				struct pos_usage *out)
{
	return acc->store->accounts->user_usage(acc->store, user_id, out);
}

enum pos_err pos_accounts_list(const struct pos_accounts *acc, struct pos_arena *a,
			       struct pos_user **out, size_t *n)
{
	return acc->store->accounts->user_list(acc->store, a, out, n);
}

enum pos_err pos_accounts_counts(const struct pos_accounts *acc, int64_t *users,
				 int64_t *admins)
{
	return acc->store->accounts->user_counts(acc->store, users, admins);
}

enum pos_err pos_accounts_admin_update(const struct pos_accounts *acc, struct pos_arena *a,
				       const char *user_id,
				       const struct pos_user_admin_patch *p,
				       struct pos_user *out)
{
	enum pos_err rc = acc->store->accounts->user_admin_update(acc->store, user_id, p,
							     pos_now_us());
	if (rc)
		return rc;
	if ((p->set & POS_UADM_DISABLED) && p->disabled) {
		/* Existing sessions end now; API tokens are refused while the
		 * account is disabled (and work again if it is enabled). */
		int64_t ns, nt;
		pos_auth_revoke_user(acc->auth, user_id, NULL, false, &ns, &nt);
		pos_encsvc_lock(acc->enc, user_id);
	}
	return acc->store->accounts->user_by_id(acc->store, a, user_id, out);
}

enum pos_err pos_accounts_delete(const struct pos_accounts *acc, const char *user_id,
				 struct pos_error *err)
{
	enum pos_err rc = POS_OK;
	char job[POS_UUID_SIZE];
	if (acc->assistant->memu)
		rc = pos_assistant_enqueue(acc->assistant, user_id, "memu_delete", "{}", job, err);
	if (!rc)
		rc = acc->store->accounts->user_delete(acc->store, user_id, "memu_delete");
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	pos_encsvc_lock(acc->enc, user_id); /* wipes the data key, if any */
	pos_search_forget_user(acc->search, user_id);
	return POS_OK;
}

enum pos_err pos_accounts_tokens(const struct pos_accounts *acc, struct pos_arena *a,
				 const char *user_id, struct pos_api_token **out, size_t *n)
{
	return acc->store->accounts->token_list(acc->store, a, user_id, out, n);
}

enum pos_err pos_accounts_token_revoke(const struct pos_accounts *acc, const char *user_id,
				       const char *id)
{
	return acc->store->accounts->token_revoke(acc->store, user_id, id, pos_now_us());
}

enum pos_err pos_accounts_invites(const struct pos_accounts *acc, struct pos_arena *a,
				  struct pos_invite **out, size_t *n)
{
	return acc->store->accounts->invite_list(acc->store, a, out, n);
}

enum pos_err pos_accounts_invite_delete(const struct pos_accounts *acc, const char *id)
{
	return acc->store->accounts->invite_delete(acc->store, id);
}
