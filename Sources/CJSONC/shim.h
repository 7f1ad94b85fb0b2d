#pragma once
#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <stdlib.h>
#include <string.h>

/* A subtree already written as JSON text (with its length, so serializing it is one copy: no
 * strlen of a few hundred bytes per event, as json-c's userdata serializer does). */
struct vigil_json_text {
    size_t len;
    char bytes[];
};

static inline int vigil_json_text_serialize(struct json_object *jso, struct printbuf *pb, int level, int flags) {
    (void)level;
    (void)flags;
    const struct vigil_json_text *t = (const struct vigil_json_text *)json_object_get_userdata(jso);
    return printbuf_memappend(pb, t->bytes, (int)t->len);
}

static inline void vigil_json_text_free(struct json_object *jso, void *userdata) {
    (void)jso;
    free(userdata);
}

/* An object that serializes as the `len` bytes at `text`; NULL when out of memory. */
static inline struct json_object *vigil_json_preserialized(const char *text, size_t len) {
    struct vigil_json_text *t = (struct vigil_json_text *)malloc(sizeof(*t) + len);
    struct json_object *o = json_object_new_object();
    if (t == NULL || o == NULL) {
        free(t);
        json_object_put(o);
        return NULL;
    }
    t->len = len;
    memcpy(t->bytes, text, len);
    json_object_set_serializer(o, vigil_json_text_serialize, t, vigil_json_text_free);
    return o;
}
