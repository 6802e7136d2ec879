#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
} cursor_t;

// Deeper than this, a value is refused rather than recursed into.
#define MAX_DEPTH 64

static void skip_space(cursor_t *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

// Whether the next byte is `ch`, consuming it if so.
static bool take(cursor_t *c, char ch) {
    if (c->p >= c->end || *c->p != ch) return false;
    c->p++;
    return true;
}

static bool hex4(cursor_t *c, unsigned long *cp) {
    if (c->end - c->p < 4) return false;
    *cp = 0;
    for (int k = 0; k < 4; k++) {
        char h = *c->p++;
        int d = digit_value(h, true);
        if (d < 0) return false;
        *cp = *cp * 16 + (unsigned long)d;
    }
    return true;
}

// A \u escape, the "\u" already read: a UTF-16 unit, or a surrogate pair.
static bool unicode_escape(cursor_t *c, buf_t *out) {
    unsigned long cp, low;
    if (!hex4(c, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (!take(c, '\\') || !take(c, 'u') || !hex4(c, &low) || low < 0xDC00 || low > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (out) buf_put_utf8(out, cp);
    return true;
}

// A string, from its opening quote: decoded into `out`, or only stepped over (NULL).
static bool string(cursor_t *c, buf_t *out) {
    static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";  // pairs: escape letter, byte
    if (!take(c, '"')) return false;
    while (c->p < c->end) {
        char ch = *c->p++;
        if (ch == '"') return true;
        if ((unsigned char)ch < 0x20) return false;
        if (ch != '\\') {
            if (out) buf_put_n(out, &ch, 1);
            continue;
        }
        if (c->p >= c->end) return false;
        char e = *c->p++;
        if (e == 'u') {
            if (!unicode_escape(c, out)) return false;
            continue;
        }
        const char *pair = NULL;
        for (const char *k = escapes; *k; k += 2) {
            if (*k == e) pair = k;
        }
        if (!pair) return false;
        if (out) buf_put_n(out, pair + 1, 1);
    }
    return false;
}

// Steps over one value of any type.
static bool skip_value(cursor_t *c, int depth) {
    skip_space(c);
    if (c->p >= c->end || depth > MAX_DEPTH) return false;
    if (*c->p == '"') return string(c, NULL);
    if (*c->p == '{' || *c->p == '[') {
        char close = *c->p == '{' ? '}' : ']';
        bool object = *c->p++ == '{';
        skip_space(c);
        if (take(c, close)) return true;
        do {
            if (object) {
                skip_space(c);
                if (!string(c, NULL)) return false;
                skip_space(c);
                if (!take(c, ':')) return false;
            }
            if (!skip_value(c, depth + 1)) return false;
            skip_space(c);
        } while (take(c, ','));
        return take(c, close);
    }
    // A number, true, false or null: a run of the bytes they are made of.
    const char *from = c->p;
    while (c->p < c->end && *c->p && strchr("+-.0123456789Eaeflnrstu", *c->p)) c->p++;
    return c->p > from;
}

json_result_t json_string_member(span_t json, const char *key, buf_t *value) {
    cursor_t c = {json.p, json.p + json.n};
    skip_space(&c);
    if (!take(&c, '{')) return JSON_MALFORMED;
    skip_space(&c);
    if (take(&c, '}')) return JSON_ABSENT;
    do {
        skip_space(&c);
        buf_t name = {0};
        bool ok = string(&c, &name);
        bool wanted = ok && span_eq((span_t){name.p, name.n}, key);
        free(name.p);
        skip_space(&c);
        if (!ok || !take(&c, ':')) return JSON_MALFORMED;
        skip_space(&c);
        if (wanted) {
            if (c.p >= c.end || *c.p != '"') return JSON_NOT_A_STRING;
            return string(&c, value) ? JSON_FOUND : JSON_MALFORMED;
        }
        if (!skip_value(&c, 0)) return JSON_MALFORMED;
        skip_space(&c);
    } while (take(&c, ','));
    return take(&c, '}') ? JSON_ABSENT : JSON_MALFORMED;
}
