#include "xml.h"

#include <stdlib.h>
#include <string.h>

static bool starts(span_t s, size_t at, const char *lit) {
    size_t k = strlen(lit);
    return at + k <= s.n && memcmp(s.p + at, lit, k) == 0;
}

// The offset just past the first `lit` at or after `at`; 0 when there is none
// (never a real answer: `lit` is not empty).
static size_t past(span_t s, size_t at, const char *lit) {
    size_t k = strlen(lit);
    for (; at + k <= s.n; at++) {
        if (memcmp(s.p + at, lit, k) == 0) return at + k;
    }
    return 0;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool xml_next_tag(span_t xml, size_t *at, xml_tag_t *tag) {
    size_t i = *at;
    for (;;) {
        while (i < xml.n && xml.p[i] != '<') i++;
        if (i >= xml.n) return false;
        // Not tags. CDATA is text that may hold '<'; comments and processing
        // instructions never come from the kernel, but stepping over them is cheap.
        const char *close = NULL;
        if (starts(xml, i, "<![CDATA[")) close = "]]>";
        else if (starts(xml, i, "<!--")) close = "-->";
        else if (starts(xml, i, "<?")) close = "?>";
        if (!close) break;
        if (!(i = past(xml, i, close))) return false;
    }
    tag->start = i;
    tag->closing = starts(xml, i, "</");
    size_t j = i + (tag->closing ? 2 : 1), name_at = j;
    while (j < xml.n && !is_space(xml.p[j]) && xml.p[j] != '/' && xml.p[j] != '>') j++;
    tag->name = (span_t){xml.p + name_at, j - name_at};
    // The tag ends at the first '>' outside quotes: attribute values may hold '>'.
    size_t attrs_at = j;
    char quote = 0;
    for (; j < xml.n; j++) {
        char c = xml.p[j];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '>') {
            break;
        }
    }
    if (j >= xml.n || tag->name.n == 0) return false;
    tag->empty = !tag->closing && xml.p[j - 1] == '/';
    tag->attrs = (span_t){xml.p + attrs_at, j - attrs_at - (tag->empty ? 1 : 0)};
    tag->end = *at = j + 1;
    return true;
}

bool xml_attr(span_t attrs, const char *name, span_t *raw) {
    size_t i = 0;
    for (;;) {
        while (i < attrs.n && is_space(attrs.p[i])) i++;
        if (i >= attrs.n) return false;
        size_t key_at = i;
        while (i < attrs.n && attrs.p[i] != '=' && !is_space(attrs.p[i])) i++;
        span_t key = {attrs.p + key_at, i - key_at};
        // XML allows spaces around '='.
        while (i < attrs.n && is_space(attrs.p[i])) i++;
        if (i >= attrs.n || attrs.p[i] != '=') return false;
        i++;
        while (i < attrs.n && is_space(attrs.p[i])) i++;
        if (i >= attrs.n || (attrs.p[i] != '\'' && attrs.p[i] != '"')) return false;
        char quote = attrs.p[i++];
        size_t value_at = i;
        while (i < attrs.n && attrs.p[i] != quote) i++;
        if (i >= attrs.n) return false;
        if (span_eq(key, name)) {
            *raw = (span_t){attrs.p + value_at, i - value_at};
            return true;
        }
        i++;
    }
}

// One reference, `name` being what stands between '&' and ';'.
static bool put_reference(buf_t *out, span_t name) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"apos", '\''}, {"quot", '"'}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        if (span_eq(name, named[k].name)) {
            buf_put_n(out, &named[k].c, 1);
            return true;
        }
    }
    if (name.n < 2 || name.p[0] != '#') return false;
    bool hex = name.p[1] == 'x';
    size_t i = hex ? 2 : 1;
    if (i >= name.n) return false;
    unsigned long cp = 0;
    for (; i < name.n; i++) {
        int d = digit_value(name.p[i], hex);
        if (d < 0) return false;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        if (cp > 0x10FFFF) return false;
    }
    // Only XML 1.0 characters: an echo of anything else would be refused.
    bool control = cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r';
    if (control || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return false;
    buf_put_utf8(out, cp);
    return true;
}

bool xml_unescape(span_t raw, buf_t *out) {
    size_t i = 0, run = 0;  // raw[run..i] is plain text not yet copied
    while (i < raw.n) {
        if (raw.p[i] == '&') {
            buf_put_n(out, raw.p + run, i - run);
            // The longest reference, "&#x10FFFF;", is 10 bytes: look no further.
            size_t semi = i + 1;
            while (semi < raw.n && semi - i < 12 && raw.p[semi] != ';') semi++;
            if (semi >= raw.n || raw.p[semi] != ';') return false;
            if (!put_reference(out, (span_t){raw.p + i + 1, semi - i - 1})) return false;
            i = run = semi + 1;
        } else if (raw.p[i] == '<') {
            // Text holds no elements; CDATA is the only markup it may have.
            if (!starts(raw, i, "<![CDATA[")) return false;
            buf_put_n(out, raw.p + run, i - run);
            size_t text_at = i + strlen("<![CDATA["), end = past(raw, text_at, "]]>");
            if (!end) return false;
            buf_put_n(out, raw.p + text_at, end - strlen("]]>") - text_at);
            i = run = end;
        } else {
            i++;
        }
    }
    buf_put_n(out, raw.p + run, i - run);
    return true;
}

// Whether an element with these attributes is in `ns`: its own xmlns when it
// declares one, else what it inherits (`inherits`: whether that is `ns`).
static bool in_ns(span_t attrs, const char *ns, bool inherits) {
    span_t raw;
    if (!xml_attr(attrs, "xmlns", &raw)) return inherits;
    buf_t value = {0};
    bool yes = xml_unescape(raw, &value) && span_eq((span_t){value.p, value.n}, ns);
    free(value.p);
    return yes;
}

bool xml_child(span_t xml, const char *name, const char *ns, xml_tag_t *tag, span_t *content) {
    size_t at = 0;
    xml_tag_t root;
    if (!xml_next_tag(xml, &at, &root) || root.closing || root.empty) return false;
    // A stanza's namespace may be left implicit: then it is jabber:client.
    bool inherits = in_ns(root.attrs, ns, strcmp(ns, "jabber:client") == 0);
    int depth = 1;  // of the element the next tag is in; 1: the top-level one
    while (xml_next_tag(xml, &at, tag)) {
        if (tag->closing) {
            if (--depth == 0) return false;  // the top-level element ended
            continue;
        }
        if (depth == 1 && span_eq(tag->name, name) && in_ns(tag->attrs, ns, inherits)) {
            size_t from = tag->end;
            if (tag->empty) {
                *content = (span_t){xml.p + from, 0};
                return true;
            }
            // Its content runs to its own end tag, past any elements inside.
            xml_tag_t t;
            for (int inner = 1; xml_next_tag(xml, &at, &t);) {
                if (!t.closing) {
                    inner += !t.empty;
                } else if (--inner == 0) {
                    *content = (span_t){xml.p + from, t.start - from};
                    return true;
                }
            }
            return false;
        }
        depth += !tag->empty;
    }
    return false;
}
