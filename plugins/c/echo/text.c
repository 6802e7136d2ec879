#include "text.h"

#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

bool span_eq(span_t s, const char *lit) {
    return strlen(lit) == s.n && memcmp(s.p, lit, s.n) == 0;
}

int digit_value(char c, bool hex) {
    if (c >= '0' && c <= '9') return c - '0';
    if (hex && c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (hex && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void buf_put_n(buf_t *b, const char *s, size_t n) {
    if (n == 0) return;  // s may be NULL then, which memcpy must not see
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();  // as in xmalloc
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void buf_put(buf_t *b, const char *s) {
    buf_put_n(b, s, strlen(s));
}

static const char *entity(char c, bool attr) {
    switch (c) {
        case '&': return "&amp;";
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '\'': return "&apos;";
        case '"': return "&quot;";
        case '\t': return attr ? "&#9;" : NULL;
        case '\n': return attr ? "&#10;" : NULL;
        case '\r': return attr ? "&#13;" : NULL;
        default: return NULL;
    }
}

// Copies runs of plain bytes between the ones that need an entity; every
// byte replaced is ASCII, so UTF-8 sequences pass through whole.
static void put_escaped(buf_t *b, const char *s, size_t n, bool attr) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = entity(s[i], attr);
        if (e) {
            buf_put_n(b, s + start, i - start);
            buf_put(b, e);
            start = i + 1;
        }
    }
    buf_put_n(b, s + start, n - start);
}

void buf_put_text(buf_t *b, const char *s, size_t n) {
    put_escaped(b, s, n, false);
}

void buf_put_attr(buf_t *b, const char *s, size_t n) {
    put_escaped(b, s, n, true);
}

void buf_put_utf8(buf_t *b, unsigned long cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_put_n(b, u, n);
}
