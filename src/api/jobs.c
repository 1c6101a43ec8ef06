/*
 * jobs.c — the jobs endpoints: one job, the user's jobs, cancel. Every
 * background task is a job its owner can follow here (jobs/jobs.h); other
 * users' jobs are 404, exactly like missing ones.
 */
#include "api/api.h"

#include <string.h>

#include "base/config.h"
#include "jobs/jobs.h"

#define JOBS_LIST_DEFAULT 20
#define JOBS_LIST_MAX 200

void pos_api_job_json(struct pos_jw *w, const struct pos_job_info *j)
{
	const char *state = pos_job_state_name(j->state);
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", j->id);
	pos_jw_kstr(w, "kind", j->kind);
	pos_jw_kstr(w, "state", state);
	pos_jw_kstr(w, "status", state); /* the name before the jobs service */
	pos_jw_kint(w, "attempts", j->attempts);
	pos_jw_key(w, "progress");
	pos_jw_obj(w);
	pos_jw_kint(w, "done", j->done > INT64_MAX ? INT64_MAX : (int64_t)j->done);
	pos_jw_kint(w, "total", j->total > INT64_MAX ? INT64_MAX : (int64_t)j->total);
	pos_jw_obj_end(w);
	pos_jw_kstr(w, "last_error", j->error);
	pos_jw_key(w, "result");
	if (j->result_json)
		pos_jw_raw(w, j->result_json, strlen(j->result_json));
	else
		pos_jw_null(w);
	pos_jw_key(w, "item_errors");
	if (j->item_errors_json)
		pos_jw_raw(w, j->item_errors_json, strlen(j->item_errors_json));
	else {
		pos_jw_arr(w);
		pos_jw_arr_end(w);
	}
	pos_jw_ktime(w, "created_at", j->created_at);
	pos_jw_ktime(w, "updated_at", j->updated_at);
	pos_jw_ktime(w, "run_after", j->run_after);
	pos_jw_ktime(w, "next_run_at", j->run_after); /* the name before the jobs service */
	pos_jw_obj_end(w);
}

static void reply(struct pos_req *r, struct pos_buf *b, struct pos_jw *w)
{
	if (w->rc) {
		pos_buf_free(b);
		pos_reply_err(r, w->rc, NULL, NULL);
	} else {
		pos_reply_json(r, 200, b);
	}
}

void pos_api_job_get(struct pos_server *srv, struct pos_req *r)
{
	struct pos_job_info j;
	enum pos_err rc = pos_jobs_get(srv->app->jobs, r->arena, r->principal.user_id,
				       pos_req_path(r, 0), &j);
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "no such job" : NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_api_job_json(&w, &j);
	reply(r, &b, &w);
}

void pos_api_jobs_list(struct pos_server *srv, struct pos_req *r)
{
	long long limit = JOBS_LIST_DEFAULT;
	const char *l = pos_req_param(r, "limit"), *kind = pos_req_param(r, "kind");
	if (l && !pos_parse_int(l, 1, JOBS_LIST_MAX, &limit)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "limit",
			      "limit must be an integer from 1 to 200");
		return;
	}
	if (kind && (!kind[0] || strlen(kind) > POS_JOB_KIND_MAX)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "kind", "kind must be a job kind's name");
		return;
	}
	struct pos_job_info *v;
	size_t n;
	enum pos_err rc = pos_jobs_list(srv->app->jobs, r->arena, r->principal.user_id, kind,
					(size_t)limit, &v, &n);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "jobs");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_api_job_json(&w, &v[i]);
	pos_jw_arr_end(&w);
	pos_jw_kint(&w, "limit", limit);
	pos_jw_obj_end(&w);
	reply(r, &b, &w);
}

void pos_api_job_cancel(struct pos_server *srv, struct pos_req *r)
{
	const char *id = pos_req_path(r, 0);
	enum pos_err rc = pos_jobs_cancel(srv->app->jobs, r->principal.user_id, id);
	if (rc) {
		pos_reply_err(r, rc, NULL,
			      rc == POS_ERR_NOT_FOUND   ? "no such job"
			      : rc == POS_ERR_CONFLICT  ? "the job has already finished"
			      : rc == POS_ERR_FORBIDDEN ? "jobs of this kind cannot be cancelled"
							: NULL);
		return;
	}
	struct pos_job_info j;
	if ((rc = pos_jobs_get(srv->app->jobs, r->arena, r->principal.user_id, id, &j))) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_api_job_json(&w, &j);
	reply(r, &b, &w);
}
