/*
 * compat.h — force-included first into every translation unit of src/.
 * It pulls in the C library headers that declare the banned functions and
 * then banned.h, so that a later call to one of them fails the build.
 */
#ifndef POS_BASE_COMPAT_H
#define POS_BASE_COMPAT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "base/banned.h"

#endif
