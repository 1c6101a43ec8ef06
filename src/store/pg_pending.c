/*
 * pg_pending.c — stand-ins for the PostgreSQL store domains not written
 * yet, so every branch links: an empty vtable and empty DDL per domain.
 * Each domain's own file (pg_<domain>.c) replaces its block here: delete
 * the block in the same commit that adds the file. The file goes away when
 * all nine domains are in.
 */
#include "store/pg_internal.h"

/* ---- accounts (pgcore) ---- */
const struct pos_store_accounts pg_accounts_ops = {0};
const char pg_ddl_accounts[] = "";
/* ---- end accounts ---- */

/* ---- keys (pgcore) ---- */
const struct pos_store_keys pg_keys_ops = {0};
const char pg_ddl_keys[] = "";
/* ---- end keys ---- */

/* ---- memories (pgmem) ---- */
const struct pos_store_memories pg_memories_ops = {0};
const char pg_ddl_memories[] = "";
/* ---- end memories ---- */

/* ---- shares (pgrest) ---- */
const struct pos_store_shares pg_shares_ops = {0};
const char pg_ddl_shares[] = "";
/* ---- end shares ---- */

