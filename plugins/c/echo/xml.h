// Reading the stanzas the kernel hands over. Not a general XML parser: the
// kernel parsed and re-serialized every stanza, so it is well-formed and has
// no DTD, comments or processing instructions (RFC 6120 §11.1), and its
// elements carry no prefixes. What it may still contain, and this reads:
// attributes in ' or " quotes, '>' inside attribute values, entity and
// character references, CDATA sections.
#ifndef ECHO_XML_H
#define ECHO_XML_H

#include "text.h"

typedef struct {
    span_t name;       // as written
    span_t attrs;      // the raw text between the name and the end of the tag
    bool closing;      // </name>
    bool empty;        // <name/>
    size_t start, end; // offsets of its '<' and just past its '>'
} xml_tag_t;

// The next tag at or after offset *at, moving *at past it; false at the end
// of the text or on a tag that is cut off.
bool xml_next_tag(span_t xml, size_t *at, xml_tag_t *tag);

// The raw (still escaped) value of attribute `name`.
bool xml_attr(span_t attrs, const char *name, span_t *raw);

// Appends `raw` (text content or an attribute value) to `out` with its
// references resolved and CDATA sections unwrapped; false, with `out` partly
// written, on a reference or markup that text cannot contain.
bool xml_unescape(span_t raw, buf_t *out);

// The first child of the top-level element named `name` in namespace `ns`
// (declared on it, or inherited from the top-level element, whose own default
// is jabber:client): its start tag and its raw content.
bool xml_child(span_t xml, const char *name, const char *ns, xml_tag_t *tag, span_t *content);

#endif
