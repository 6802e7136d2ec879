// Strings in and out of the plugin: the host's strings are (pointer, length)
// and not NUL-terminated, and everything a plugin returns must be malloc'd,
// because the generated post-return code frees it with free().
#ifndef ECHO_TEXT_H
#define ECHO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

// A view into a string owned by someone else: not NUL-terminated.
typedef struct {
    const char *p;
    size_t n;
} span_t;

// A growing malloc'd string; `p` may be handed to the host as is.
typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

// malloc that never returns NULL: out of memory, the call traps, and the
// kernel drops the instance instead of getting a half-built answer.
void *xmalloc(size_t n);

bool span_eq(span_t s, const char *lit);

// The value of a decimal (or, with `hex`, hexadecimal) digit; -1 for another byte.
int digit_value(char c, bool hex);

void buf_put_n(buf_t *b, const char *s, size_t n);
void buf_put(buf_t *b, const char *s);
// Escaped for text content: & < > (and ' " too, harmless there).
void buf_put_text(buf_t *b, const char *s, size_t n);
// Escaped for an attribute value in quotes of either kind; tab and line
// breaks as character references, because parsers turn literal ones into spaces.
void buf_put_attr(buf_t *b, const char *s, size_t n);
// Appends one code point as UTF-8.
void buf_put_utf8(buf_t *b, unsigned long cp);

#endif
