/*
 * pg_pending.c — stand-ins for the PostgreSQL store domains not written
 * yet, so every branch links: an empty vtable and empty DDL per domain.
 * Each domain's own file (pg_<domain>.c) replaces its block here: delete
 * the block in the same commit that adds the file. The file goes away when
 * all nine domains are in.
 */
#include "store/pg_internal.h"


/* ---- shares (pgrest) ---- */
const struct pos_store_shares pg_shares_ops = {0};
const char pg_ddl_shares[] = "";
/* ---- end shares ---- */

