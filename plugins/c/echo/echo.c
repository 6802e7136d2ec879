// Echo (C): a service on echo.<host> that sends every chat or normal message
// back to its sender, from the address it was sent to, with the configured
// `prefix` before the body. It answers disco#info for itself and refuses
// every other iq with service-unavailable (an iq get or set always gets an
// answer). Written against plugin-abi/wit (waxwing:plugin@2.4.0) with the C
// bindings plugins/c/build.sh generates; it calls no host interface, so the
// component imports nothing: replies travel in the `reply` outcome.
//
// Memory, as the generated bindings want it: arguments belong to the callee,
// which frees them with the generated *_free functions; everything returned
// is malloc'd, because the generated post-return code frees it.

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "plugin.h"
#include "text.h"
#include "xml.h"

#define NS_CLIENT "jabber:client"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"

typedef exports_waxwing_plugin_guest_stanza_t stanza_t;
typedef exports_waxwing_plugin_guest_outcome_t outcome_t;
typedef exports_waxwing_plugin_guest_stanza_error_t stanza_error_t;
typedef waxwing_plugin_types_route_t route_t;
typedef waxwing_plugin_types_setting_t setting_t;

// The config's `prefix`. A global, unlike anything a plugin must remember:
// init runs on every fresh instance, so each one reads it from the config again.
static buf_t prefix;

static span_t span(const plugin_string_t *s) {
    return (span_t){(const char *)s->ptr, s->len};
}

static void *new_array(size_t count, size_t size) {
    void *p = calloc(count, size);
    if (!p) abort();  // see xmalloc
    return p;
}

static waxwing_plugin_types_list_stanza_type_t types2(uint8_t a, uint8_t b) {
    waxwing_plugin_types_stanza_type_t *t = new_array(2, sizeof *t);
    t[0] = a;
    t[1] = b;
    return (waxwing_plugin_types_list_stanza_type_t){t, 2};
}

void exports_waxwing_plugin_guest_describe(exports_waxwing_plugin_guest_description_t *d) {
    memset(d, 0, sizeof *d);  // every list empty, every option none
    plugin_string_dup(&d->name, "echo");
    plugin_string_dup(&d->version, "0.1.0");
    d->service_subdomain.is_some = true;
    plugin_string_dup(&d->service_subdomain.val, "echo");
    // No `features` or `identities`: those are the host's disco#info, and
    // this plugin is not the host. Its own identity is in answer_iq.

    // Payload "" matches any payload; to `service` is echo.<host>, with or
    // without a node or resource.
    route_t *routes = new_array(2, sizeof *routes);
    routes[0] = (route_t){
        .kind = WAXWING_PLUGIN_TYPES_STANZA_KIND_MESSAGE,
        .types = types2(WAXWING_PLUGIN_TYPES_STANZA_TYPE_CHAT, WAXWING_PLUGIN_TYPES_STANZA_TYPE_NORMAL),
        .to = WAXWING_PLUGIN_TYPES_ADDRESS_SERVICE,
    };
    routes[1] = (route_t){
        .kind = WAXWING_PLUGIN_TYPES_STANZA_KIND_IQ,
        .types = types2(WAXWING_PLUGIN_TYPES_STANZA_TYPE_GET, WAXWING_PLUGIN_TYPES_STANZA_TYPE_SET),
        .to = WAXWING_PLUGIN_TYPES_ADDRESS_SERVICE,
    };
    d->routes = (waxwing_plugin_types_list_route_t){routes, 2};

    // Declared, so the kernel refuses a config with another key or a
    // non-string prefix, and hands init the default when none is given.
    setting_t *settings = new_array(1, sizeof *settings);
    plugin_string_dup(&settings[0].key, "prefix");
    settings[0].type.tag = WAXWING_PLUGIN_TYPES_SETTING_TYPE_TEXT;
    plugin_string_dup(&settings[0].default_, "\"\"");  // JSON
    plugin_string_dup(&settings[0].doc, "Text put before every echoed body");
    d->settings = (waxwing_plugin_types_list_setting_t){settings, 1};
}

bool exports_waxwing_plugin_guest_init(plugin_string_t *config, exports_waxwing_plugin_guest_ready_t *ret,
                                       plugin_string_t *err) {
    memset(ret, 0, sizeof *ret);  // no stream features
    prefix.n = 0;
    json_result_t found = json_string_member(span(config), "prefix", &prefix);
    plugin_string_free(config);
    switch (found) {
        case JSON_FOUND:
        case JSON_ABSENT:  // the default, ""
            return true;
        case JSON_NOT_A_STRING:
            plugin_string_dup(err, "echo: config 'prefix' must be a string");
            return false;
        case JSON_MALFORMED:
        default:
            plugin_string_dup(err, "echo: the config is not a JSON object");
            return false;
    }
}

static bool fail(stanza_error_t *err, waxwing_plugin_types_error_condition_t condition, const char *text) {
    memset(err, 0, sizeof *err);  // the condition's usual error type, no application condition
    err->condition = condition;
    if (text) {
        err->text.is_some = true;
        plugin_string_dup(&err->text.val, text);
    }
    return false;
}

static bool reply(outcome_t *ret, buf_t *xml) {
    ret->tag = WAXWING_PLUGIN_TYPES_OUTCOME_REPLY;
    ret->val.reply = (plugin_string_t){(uint8_t *)xml->p, xml->n};  // the post-return frees it
    return true;
}

// The start of a reply: <NAME from='{to}' to='{from}', the open tag left open.
static void reply_head(buf_t *out, const char *name, const stanza_t *st) {
    buf_put(out, "<");
    buf_put(out, name);
    buf_put(out, " from='");
    buf_put_attr(out, (const char *)st->to.ptr, st->to.len);
    buf_put(out, "' to='");
    buf_put_attr(out, (const char *)st->from.ptr, st->from.len);
    buf_put(out, "'");
}

static bool echo_message(const stanza_t *st, outcome_t *ret, stanza_error_t *err) {
    xml_tag_t tag;
    span_t raw;
    if (!xml_child(span(&st->xml), "body", NS_CLIENT, &tag, &raw)) {
        // Chat states, receipts and the like have no body: nothing to echo,
        // and nothing wrong either, so no error goes back.
        ret->tag = WAXWING_PLUGIN_TYPES_OUTCOME_DONE;
        return true;
    }
    // Unescaped, then escaped again below: the prefix is text, not XML, and
    // the body may come in any form of escaping the sender chose.
    buf_t body = {0};
    buf_put_n(&body, prefix.p, prefix.n);
    if (!xml_unescape(raw, &body)) {
        free(body.p);
        return fail(err, WAXWING_PLUGIN_TYPES_ERROR_CONDITION_BAD_REQUEST, "echo: the body is not text");
    }
    buf_t out = {0};
    reply_head(&out, "message", st);
    buf_put(&out, st->type == WAXWING_PLUGIN_TYPES_STANZA_TYPE_CHAT ? " type='chat'>" : " type='normal'>");
    buf_put(&out, "<body>");
    buf_put_text(&out, body.p, body.n);
    buf_put(&out, "</body></message>");
    free(body.p);
    return reply(ret, &out);
}

static bool answer_iq(const stanza_t *st, outcome_t *ret, stanza_error_t *err) {
    bool disco_info = st->type == WAXWING_PLUGIN_TYPES_STANZA_TYPE_GET &&
                      span_eq(span(&st->payload_ns), NS_DISCO_INFO) && span_eq(span(&st->payload_name), "query");
    if (!disco_info) return fail(err, WAXWING_PLUGIN_TYPES_ERROR_CONDITION_SERVICE_UNAVAILABLE, NULL);
    // XEP-0030 nodes: this service has none.
    xml_tag_t query;
    span_t content, node;
    if (xml_child(span(&st->xml), "query", NS_DISCO_INFO, &query, &content) && xml_attr(query.attrs, "node", &node) &&
        node.n > 0) {
        return fail(err, WAXWING_PLUGIN_TYPES_ERROR_CONDITION_ITEM_NOT_FOUND, NULL);
    }
    buf_t out = {0};
    reply_head(&out, "iq", st);
    buf_put(&out, " type='result' id='");
    buf_put_attr(&out, (const char *)st->id.ptr, st->id.len);
    buf_put(&out, "'><query xmlns='" NS_DISCO_INFO "'>"
                  "<identity category='component' type='generic' name='Echo (C)'/>"
                  "<feature var='" NS_DISCO_INFO "'/>"
                  "</query></iq>");
    return reply(ret, &out);
}

bool exports_waxwing_plugin_guest_handle_stanza(stanza_t *st, outcome_t *ret, stanza_error_t *err) {
    bool ok;
    switch (st->kind) {
        case WAXWING_PLUGIN_TYPES_STANZA_KIND_MESSAGE:
            ok = echo_message(st, ret, err);
            break;
        case WAXWING_PLUGIN_TYPES_STANZA_KIND_IQ:
            ok = answer_iq(st, ret, err);
            break;
        default:  // no route takes presence; the kernel's default answers it
            ret->tag = WAXWING_PLUGIN_TYPES_OUTCOME_PASS;
            ok = true;
    }
    exports_waxwing_plugin_guest_stanza_free(st);
    return ok;
}

// Neither events nor filters are subscribed to; these only keep the contract.
bool exports_waxwing_plugin_guest_handle_event(exports_waxwing_plugin_guest_event_t *event, plugin_string_t *err) {
    (void)err;
    exports_waxwing_plugin_guest_event_free(event);
    return true;
}

void exports_waxwing_plugin_guest_filter(stanza_t *st, exports_waxwing_plugin_guest_verdict_t *ret) {
    exports_waxwing_plugin_guest_stanza_free(st);
    ret->tag = WAXWING_PLUGIN_TYPES_VERDICT_PASS;
}

// Nothing stored, so nothing to carry over from an older version.
bool exports_waxwing_plugin_guest_migrate(plugin_string_t *from_version, plugin_string_t *err) {
    (void)err;
    plugin_string_free(from_version);
    return true;
}
