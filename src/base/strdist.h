/*
 * strdist.h — string distances for query expansion (the stores' stem_near).
 */
#ifndef POS_BASE_STRDIST_H
#define POS_BASE_STRDIST_H

#include <stddef.h>

/* Optimal string alignment distance of a (n bytes) and b (m bytes), or
 * max + 1 as soon as it must exceed `max` (always for more than 64 bytes). */
size_t pos_osa_distance(const char *a, size_t n, const char *b, size_t m, size_t max);

#endif
