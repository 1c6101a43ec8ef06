/*
 * banned.h — functions PersonalOS code must not call (after git's banned.h).
 * Force-included into every translation unit of src/ by CMake; a call to one
 * of these fails the build with a message naming the safe alternative.
 */
#ifndef POS_BASE_BANNED_H
#define POS_BASE_BANNED_H

#define POS_BANNED(func) sorry_##func##_is_banned_use_a_bounded_alternative

#undef strcpy
#define strcpy(x, y) POS_BANNED(strcpy)
#undef strcat
#define strcat(x, y) POS_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) POS_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) POS_BANNED(strncat)
#undef sprintf
#define sprintf(...) POS_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) POS_BANNED(vsprintf)
#undef gets
#define gets(x) POS_BANNED(gets)
#undef strtok
#define strtok(x, y) POS_BANNED(strtok)
#undef atoi
#define atoi(x) POS_BANNED(atoi)
#undef atol
#define atol(x) POS_BANNED(atol)
#undef atoll
#define atoll(x) POS_BANNED(atoll)
#undef atof
#define atof(x) POS_BANNED(atof)

#endif
