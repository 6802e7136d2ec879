// Reading the plugin's config. The kernel hands `init` the plugin's table as
// a JSON object, checked against describe().settings with the defaults filled
// in, so a declared key is there with its declared type; the reader still
// checks what it reads rather than trust that.
#ifndef ECHO_JSON_H
#define ECHO_JSON_H

#include "text.h"

typedef enum {
    JSON_FOUND,
    JSON_ABSENT,
    JSON_NOT_A_STRING,
    JSON_MALFORMED,  // not a JSON object, as far as it was read
} json_result_t;

// Member `key` of the object `json`, when it is a string: appended to `value`, decoded.
json_result_t json_string_member(span_t json, const char *key, buf_t *value);

#endif
