import CJSONC

#if canImport(Glibc)
    import Glibc
#endif

/// A thin owner of a json-c object tree (the only json-c calls in Vigil live in this module).
/// Objects keep insertion order, so output key order is stable.
struct JSONObject {
    let raw: OpaquePointer

    static func object() -> JSONObject { JSONObject(raw: json_object_new_object()) }
    static func array() -> JSONObject { JSONObject(raw: json_object_new_array()) }
    static func int(_ n: Int64) -> JSONObject { JSONObject(raw: json_object_new_int64(n)) }

    /// Keys are literals: json-c keeps their pointer (JSON_C_OBJECT_ADD_CONSTANT_KEY) instead of
    /// a strdup'ed copy per key and event (a malloc, a strlen and a free each, at 200k events/s),
    /// and each is set once per object (JSON_C_OBJECT_ADD_KEY_IS_NEW: no lookup first; debug
    /// builds, which the tests run, check that it is new).
    func set(_ key: StaticString, _ value: JSONObject) {
        precondition(key.hasPointerRepresentation, "JSON keys are string literals")
        key.utf8Start.withMemoryRebound(to: CChar.self, capacity: key.utf8CodeUnitCount + 1) {
            assert(json_object_object_get_ex(raw, $0, nil) == 0, "JSON key \(key) set twice")
            _ = json_object_object_add_ex(raw, $0, value.raw, UInt32(JSON_C_OBJECT_ADD_CONSTANT_KEY | JSON_C_OBJECT_ADD_KEY_IS_NEW))
        }
    }
    func set(_ key: StaticString, _ s: String) { set(key, .string(s)) }
    func set(_ key: StaticString, _ n: UInt64) { set(key, .uint(n)) }
    func set(_ key: StaticString, _ n: UInt32) { set(key, .int(Int64(n))) }
    func set(_ key: StaticString, _ b: Bool) { set(key, .bool(b)) }
    /// A key known only at run time (a map's keys, an event's own name): json-c copies it.
    func set(named key: String, _ value: JSONObject) { key.withCString { _ = json_object_object_add(raw, $0, value.raw) } }
    static func string(_ s: String) -> JSONObject { JSONObject(raw: Self.cString(s)) }
    static func uint(_ n: UInt64) -> JSONObject { JSONObject(raw: json_object_new_uint64(n)) }
    static func bool(_ b: Bool) -> JSONObject { JSONObject(raw: json_object_new_boolean(b ? 1 : 0)) }
    func append(_ value: JSONObject) { json_object_array_add(raw, value.raw) }
    func append(_ s: String) { json_object_array_add(raw, Self.cString(s)) }

    private static func cString(_ s: String) -> OpaquePointer {
        var s = s
        return s.withUTF8 { json_object_new_string_len(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count)) }
    }

    func child(_ key: String) -> JSONObject? {
        var out: OpaquePointer?
        return json_object_object_get_ex(raw, key, &out) != 0 ? out.map(JSONObject.init) : nil
    }

    func remove(_ key: String) { key.withCString { json_object_object_del(raw, $0) } }
    func remove(_ key: StaticString) {
        key.utf8Start.withMemoryRebound(to: CChar.self, capacity: key.utf8CodeUnitCount + 1) { json_object_object_del(raw, $0) }
    }

    var keys: [String] {
        var out: [String] = []
        guard json_object_is_type(raw, json_type_object) != 0 else { return out }
        var it = json_object_iter_begin(raw)
        var end = json_object_iter_end(raw)
        while json_object_iter_equal(&it, &end) == 0 {
            out.append(String(cString: json_object_iter_peek_name(&it)))
            json_object_iter_next(&it)
        }
        return out
    }

    /// Appends the compact JSON text (no trailing newline) to `buffer`.
    func write(to buffer: inout [UInt8]) {
        var len = 0
        let flags = Int32(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
        guard let p = json_object_to_json_string_length(raw, flags, &len) else { return }
        p.withMemoryRebound(to: UInt8.self, capacity: len) { buffer.append(contentsOf: UnsafeBufferPointer(start: $0, count: len)) }
    }

    /// An object that serializes as `text`, already JSON (json-c's userdata serializer): a
    /// subtree built and written once, then copied into each event as bytes.
    static func preserialized(_ text: String) -> JSONObject {
        var text = text
        return text.withUTF8 { u in
            u.withMemoryRebound(to: CChar.self) { JSONObject(raw: vigil_json_preserialized($0.baseAddress, $0.count)!) }
        }
    }

    /// A string from UTF-8 bytes (no Swift String in between).
    static func string(utf8 bytes: UnsafeBufferPointer<UInt8>) -> JSONObject {
        bytes.withMemoryRebound(to: CChar.self) { JSONObject(raw: json_object_new_string_len($0.baseAddress, Int32($0.count))) }
    }

    /// The compact JSON text of this object.
    var text: String {
        var len = 0
        let flags = Int32(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
        guard let p = json_object_to_json_string_length(raw, flags, &len) else { return "null" }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) { String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self) }
    }

    /// One more reference (json-c counts them): to share this object into a second tree.
    func retained() -> JSONObject {
        json_object_get(raw)
        return self
    }

    /// Frees the tree (json-c reference counting: the root owns its children).
    func release() { json_object_put(raw) }
}
