//! Checks that `openapi.json` describes the API as implemented: every route and method
//! of `router` (read from the source of lib.rs, so that a new route without
//! documentation fails here), the roles each handler requires (read from api.rs,
//! privacy_api.rs, compliance_api.rs and sms_api.rs), the request bodies as the handlers
//! parse them, the error body as error.rs writes it, and the answers of a real server
//! against the documented statuses and schemas.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigie_core::{Calendar, Catalog, InvalidField, PoolCode, Timestamp};
use vigie_store::{Role, RowProblem, Store, StoreError, StoreOptions};

use crate::api;
use crate::error::ApiError;

const DOC: &str = include_str!("openapi.json");
const LIB_RS: &str = include_str!("lib.rs");
const API_RS: &str = include_str!("api.rs");
const PRIVACY_API_RS: &str = include_str!("privacy_api.rs");
const COMPLIANCE_API_RS: &str = include_str!("compliance_api.rs");
const SMS_API_RS: &str = include_str!("sms_api.rs");
const MONITOR_API_RS: &str = include_str!("monitor_api.rs");

/// A handler's name and the source of its module (`api::get_call` → api.rs).
fn handler_source(handler: &str) -> Option<(&str, &'static str)> {
    match handler.split_once("::")? {
        ("api", name) => Some((name, API_RS)),
        ("privacy_api", name) => Some((name, PRIVACY_API_RS)),
        ("compliance_api", name) => Some((name, COMPLIANCE_API_RS)),
        ("sms_api", name) => Some((name, SMS_API_RS)),
        ("monitor_api", name) => Some((name, MONITOR_API_RS)),
        _ => None,
    }
}

/// The HTTP methods an OpenAPI path item may hold, which are also axum's method routers.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every role an API key can carry.
const ROLES: [&str; 4] = ["admin", "dialer", "ops", "auditor"];

/// The security scheme of the webhooks an SMS gateway calls: no API key, a signature
/// of the body with the provider's shared secret instead.
const SIGNED: &str = "receiptSignature";

/// The security scheme of the feeds that push spam reports: a signature of the
/// timestamp and the body with the feed's shared secret.
const REPORT_SIGNED: &str = "reportSignature";

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is valid JSON")
}

// ----- reading Rust source -----

/// The source without its comments, string contents kept.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let end = string_end(b, i);
            out.extend_from_slice(&b[i..end]);
            i = end;
        } else if let Some(len) = char_literal_len(&b[i..]) {
            out.extend_from_slice(&b[i..i + len]);
            i += len;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("stripping ASCII comment markers keeps UTF-8")
}

/// The length of the character literal (`'"'`, `'\''`) that `b` starts with, if any.
fn char_literal_len(b: &[u8]) -> Option<usize> {
    match b {
        [b'\'', b'\\', _, b'\'', ..] => Some(4),
        [b'\'', c, b'\'', ..] if *c != b'\\' => Some(3),
        _ => None,
    }
}

/// The index just past the string literal that opens at `start`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    (i + 1).min(b.len())
}

/// Walks `s` and returns the index of the first closing bracket that closes nothing
/// opened in `s` (or `s.len()`), with the indices of the opening brackets met at depth 0.
/// String and character literals are skipped.
fn walk(s: &str) -> (usize, Vec<usize>) {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut top_opens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i);
                continue;
            }
            b'\'' if char_literal_len(&b[i..]).is_some() => {
                i += char_literal_len(&b[i..]).unwrap_or(1);
                continue;
            }
            b'(' | b'[' | b'{' => {
                if depth == 0 {
                    top_opens.push(i);
                }
                depth += 1;
            }
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return (i, top_opens);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    (b.len(), top_opens)
}

/// The path identifier (`api::get_call`, `get`) that ends just before index `end`.
fn ident_before(s: &str, end: usize) -> &str {
    let b = s.as_bytes();
    let mut start = end;
    while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_' || b[start - 1] == b':') {
        start -= 1;
    }
    &s[start..end]
}

/// The body (between the braces) of the item that `signature` starts, in `src`.
fn body_of<'a>(src: &'a str, signature: &str) -> Option<(&'a str, &'a str)> {
    let start = src.find(signature)?;
    let open = start + src[start..].find('{')?;
    let (len, _) = walk(&src[open + 1..]);
    Some((&src[start..open], &src[open + 1..open + 1 + len]))
}

/// A route of `router`: its path, method and handler expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    path: String,
    method: String,
    handler: String,
}

/// The routes that `pub fn router(` registers in `src`, read from its `.route("…", …)`
/// calls. Panics on what it cannot read, so that a new way of adding routes makes the
/// test fail instead of passing unseen.
fn routes_in(src: &str) -> Vec<Route> {
    let src = strip_comments(src);
    let (_, body) = body_of(&src, "pub fn router(").expect("lib.rs defines `pub fn router(`");
    for unsupported in [".nest(", ".nest_service(", ".merge(", ".route_service(", ".route_layer("] {
        assert!(!body.contains(unsupported), "router uses `{unsupported}`: teach openapi_tests.rs to read it");
    }
    let mut routes = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(".route(") {
        let args = &rest[at + ".route(".len()..];
        let (args_len, _) = walk(args);
        let call = args[..args_len].trim_start();
        assert!(call.starts_with('"'), "a route's path must be a string literal: .route({call})");
        let path_end = string_end(call.as_bytes(), 0);
        let path = call[1..path_end - 1].to_owned();
        let method_router = call[path_end..].trim_start();
        let method_router = method_router.strip_prefix(',').expect("`.route(path, method_router)`").trim();
        let (_, opens) = walk(method_router);
        assert!(!opens.is_empty(), "route {path}: no method router in `{method_router}`");
        for open in opens {
            let name = ident_before(method_router, open);
            let method = name.rsplit("::").next().unwrap_or(name);
            assert!(
                METHODS.contains(&method),
                "route {path}: `{name}(` is not a method router this test knows (get, post, patch…); teach openapi_tests.rs"
            );
            let (len, _) = walk(&method_router[open + 1..]);
            let handler = method_router[open + 1..open + 1 + len].trim().to_owned();
            routes.push(Route { path: path.clone(), method: method.to_owned(), handler });
        }
        rest = &args[args_len..];
    }
    routes
}

fn router_routes() -> Vec<Route> {
    routes_in(LIB_RS)
}

/// Who may call a handler, read from its module (api.rs, privacy_api.rs,
/// compliance_api.rs, sms_api.rs): `None` when
/// it takes no `Caller`, else the roles (admin always among them).
fn handler_roles(handler: &str) -> Option<BTreeSet<String>> {
    let (name, src) = handler_source(handler)?;
    let src = strip_comments(src);
    let (signature, body) = body_of(&src, &format!("async fn {name}("))
        .unwrap_or_else(|| panic!("{handler}: `async fn {name}(` is defined"));
    if !signature.contains("Caller") {
        return None;
    }
    let mut roles: BTreeSet<String> = BTreeSet::from(["admin".to_owned()]);
    match body.find("caller.require(") {
        None => roles.extend(ROLES.iter().map(|r| (*r).to_owned())),
        Some(at) => {
            let args = &body[at + "caller.require(".len()..];
            let (len, _) = walk(args);
            for word in args[..len].split(|c: char| !c.is_ascii_alphanumeric() && c != ':') {
                if let Some(role) = word.strip_prefix("Role::") {
                    roles.insert(role.to_ascii_lowercase());
                }
            }
        }
    }
    Some(roles)
}

fn handler_takes_body(handler: &str) -> bool {
    let Some((name, src)) = handler_source(handler) else { return false };
    let src = strip_comments(src);
    body_of(&src, &format!("async fn {name}(")).is_some_and(|(signature, _)| signature.contains(": Bytes"))
}

// ----- reading the document -----

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("only local $ref: {r}"));
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {r} points nowhere")))
        }
        None => v,
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for (method, op) in item.as_object().expect("a path item is an object") {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op));
            }
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    op
}

fn documented_roles(op: &Value) -> Option<BTreeSet<String>> {
    let security = op["security"].as_array().expect("every operation states its security");
    match security.as_slice() {
        [] => None,
        [one] if one.get(SIGNED).is_some() || one.get(REPORT_SIGNED).is_some() => None,
        [one] => Some(
            one["apiKey"]
                .as_array()
                .expect("security uses the apiKey scheme")
                .iter()
                .map(|r| r.as_str().expect("a role is a string").to_owned())
                .collect(),
        ),
        _ => panic!("one security requirement per operation, listing the roles"),
    }
}

/// Whether an operation is authenticated by a signature of its body rather than a key.
fn signed(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get(SIGNED).is_some() || r.get(REPORT_SIGNED).is_some()))
}

fn request_example<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    let v = &operation(doc, path, method)["requestBody"]["content"]["application/json"]["examples"][name]["value"];
    assert!(!v.is_null(), "{method} {path} has no request example {name}");
    v
}

// ----- a small JSON Schema validator for the keywords the document uses -----

/// Keywords the validator checks.
const CHECKED: [&str; 21] = [
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "if",
    "then",
    "format",
    "else",
];
/// Keywords that only annotate, or that the validator knowingly leaves unchecked
/// (`pattern`: no regular-expression engine among the dependencies).
const ANNOTATIONS: [&str; 5] = ["description", "examples", "default", "title", "pattern"];

/// Checks `v` against `schema`. `strict` also refuses object members the schema does
/// not list, so that an answer cannot carry undocumented members.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, strict: bool, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object"));
        return;
    };
    for key in s.keys() {
        assert!(
            CHECKED.contains(&key.as_str()) || ANNOTATIONS.contains(&key.as_str()),
            "{at}: schema keyword `{key}` is not known to openapi_tests.rs's validator"
        );
    }
    let mut fail = |m: String| errors.push(format!("{at}: {m}"));
    if let Some(target) = s.get("$ref") {
        let pointer = target.as_str().and_then(|r| r.strip_prefix('#')).unwrap_or_default();
        let target = doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {target} points nowhere"));
        let mut inner = Vec::new();
        validate(doc, target, v, at, strict, &mut inner);
        inner.into_iter().for_each(&mut fail);
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        // Each part lists some members only: the merged list is checked below.
        for sub in all {
            let mut inner = Vec::new();
            validate(doc, sub, v, at, false, &mut inner);
            inner.into_iter().for_each(&mut fail);
        }
    }
    for (key, want) in [("anyOf", None), ("oneOf", Some(1usize))] {
        if let Some(subs) = s.get(key).and_then(Value::as_array) {
            let passing = subs
                .iter()
                .filter(|sub| {
                    let mut inner = Vec::new();
                    validate(doc, sub, v, at, strict, &mut inner);
                    inner.is_empty()
                })
                .count();
            if passing == 0 || want.is_some_and(|w| passing != w) {
                fail(format!("{key}: {passing} of {} alternatives match {v}", subs.len()));
            }
        }
    }
    if let Some(cond) = s.get("if") {
        let mut inner = Vec::new();
        validate(doc, cond, v, at, false, &mut inner);
        let branch = if inner.is_empty() { s.get("then") } else { s.get("else") };
        if let Some(branch) = branch {
            let mut inner = Vec::new();
            validate(doc, branch, v, at, false, &mut inner);
            inner.into_iter().for_each(&mut fail);
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            _ => false,
        });
        if !ok {
            fail(format!("{v} is not of type {t}"));
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        fail(format!("{v} is not one of {options:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        fail(format!("{v} is not {c}"));
    }
    if let Some(n) = v.as_f64() {
        if s.get("minimum").and_then(Value::as_f64).is_some_and(|min| n < min) {
            fail(format!("{n} is below the minimum"));
        }
        if s.get("maximum").and_then(Value::as_f64).is_some_and(|max| n > max) {
            fail(format!("{n} is above the maximum"));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|min| len < min) {
            fail(format!("{text:?} is shorter than minLength"));
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|max| len > max) {
            fail(format!("{text:?} is longer than maxLength"));
        }
        match s.get("format").and_then(Value::as_str) {
            Some("date-time") if text.parse::<Timestamp>().is_err() => {
                fail(format!("{text:?} is not an RFC 3339 instant"))
            }
            Some("date") if text.parse::<vigie_core::Date>().is_err() => fail(format!("{text:?} is not a date")),
            _ => {}
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if s.get("minItems").and_then(Value::as_u64).is_some_and(|min| n < min) {
            fail(format!("{n} items, fewer than minItems"));
        }
        if s.get("maxItems").and_then(Value::as_u64).is_some_and(|max| n > max) {
            fail(format!("{n} items, more than maxItems"));
        }
        if let Some(item) = s.get("items") {
            for (i, element) in items.iter().enumerate() {
                let mut inner = Vec::new();
                validate(doc, item, element, &format!("{at}[{i}]"), strict, &mut inner);
                inner.into_iter().for_each(&mut fail);
            }
        }
    }
    if let Some(object) = v.as_object() {
        for name in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                fail(format!("required member `{name}` is missing"));
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let closed = s.get("additionalProperties") == Some(&Value::Bool(false));
        let listed =
            (strict && (properties.is_some() || s.contains_key("allOf"))).then(|| object_members(doc, schema).0);
        for (name, member) in object {
            if let Some(sub) = properties.and_then(|p| p.get(name)) {
                let mut inner = Vec::new();
                validate(doc, sub, member, &format!("{at}.{name}"), strict, &mut inner);
                inner.into_iter().for_each(&mut fail);
            } else if closed {
                fail(format!("member `{name}` is not allowed"));
            }
            if listed.as_ref().is_some_and(|l| !l.contains(name)) {
                fail(format!("member `{name}` is not documented"));
            }
        }
    }
}

fn check(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let mut errors = Vec::new();
    validate(doc, schema, v, at, true, &mut errors);
    assert!(errors.is_empty(), "{v:#}\ndoes not match its schema:\n{}", errors.join("\n"));
}

/// Every member of a schema that an object may carry, with `allOf` merged.
fn object_members(doc: &Value, schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let schema = resolve(doc, schema);
    let mut props = BTreeSet::new();
    let mut required = BTreeSet::new();
    for sub in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        let (p, r) = object_members(doc, sub);
        props.extend(p);
        required.extend(r);
    }
    props.extend(schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.keys().cloned()));
    required.extend(
        schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned)),
    );
    (props, required)
}

// ----- the document against the router -----

#[test]
fn every_route_of_the_router_is_documented_and_nothing_else() {
    let doc = doc();
    let implemented: BTreeSet<(String, String)> = router_routes().into_iter().map(|r| (r.path, r.method)).collect();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(p, m, _)| (p, m)).collect();
    let undocumented: Vec<_> = implemented.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&implemented).collect();
    assert!(undocumented.is_empty(), "routes of `router` missing from openapi.json: {undocumented:?}");
    assert!(phantom.is_empty(), "operations in openapi.json that `router` does not have: {phantom:?}");
}

#[test]
fn the_route_reader_reads_route_calls() {
    let src = r#"
        // .route("/commented", get(nothing))
        pub fn router(state: AppState) -> Router {
            let _quote = '"';
            Router::new()
                .route("/a", get(|| async { "ok )" }))
                .route("/b/{id}", axum::routing::post(api::b).get(api::c)) /* .route("/x", get(y)) */
                .layer(DefaultBodyLimit::max(3))
                .fallback(|| async { ApiError::not_found("route", "path") })
        }
        fn other() { Router::new().route("/elsewhere", get(x)); }
    "#;
    let got: Vec<(String, String, String)> =
        routes_in(src).into_iter().map(|r| (r.path, r.method, r.handler)).collect();
    let want = [("/a", "get", r#"|| async { "ok )" }"#), ("/b/{id}", "post", "api::b"), ("/b/{id}", "get", "api::c")];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(p, m, h)| ((*p).to_owned(), (*m).to_owned(), (*h).to_owned())).collect();
    assert_eq!(got, want);
    // The real router is read too, not skipped.
    let routes = router_routes();
    assert!(routes.len() >= 15, "only {} routes read from lib.rs: {routes:?}", routes.len());
    assert!(routes.iter().any(|r| r.path == "/v1/calls" && r.method == "post" && r.handler == "api::post_call"));
}

#[test]
fn documented_roles_and_errors_follow_the_handlers() {
    let doc = doc();
    let all: BTreeSet<String> = ROLES.iter().map(|r| (*r).to_owned()).collect();
    for route in router_routes() {
        let op = operation(&doc, &route.path, &route.method);
        let at = format!("{} {}", route.method, route.path);
        let roles = handler_roles(&route.handler);
        assert_eq!(
            documented_roles(op),
            roles,
            "{at}: the documented roles are not those `{}` requires",
            route.handler
        );
        let statuses: BTreeSet<&str> =
            op["responses"].as_object().expect("responses").keys().map(String::as_str).collect();
        let authenticated = roles.is_some() || signed(op);
        assert_eq!(statuses.contains("401"), authenticated, "{at}: 401 documented iff a key or a signature is needed");
        let restricted = roles.as_ref().is_some_and(|r| *r != all);
        assert_eq!(statuses.contains("403"), restricted, "{at}: 403 documented iff some role may not call it");
        let takes_body = handler_takes_body(&route.handler);
        assert_eq!(
            op.get("requestBody").is_some(),
            takes_body,
            "{at}: requestBody documented iff the handler reads one"
        );
        for status in ["400", "413", "422"] {
            assert!(!takes_body || statuses.contains(status), "{at}: a handler that reads a body may answer {status}");
        }
        if route.path.starts_with("/v1/") {
            assert!(statuses.contains("500"), "{at}: store failures answer 500");
        }
    }
}

#[test]
fn the_document_holds_together() {
    let doc = doc();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "an OpenAPI 3.1 document");
    // Every $ref resolves.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    for r in all_refs {
        resolve(&doc, &json!({ "$ref": r }));
    }
    let tags: BTreeSet<&str> =
        doc["tags"].as_array().expect("tags").iter().filter_map(|t| t["name"].as_str()).collect();
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: operationId"));
        assert!(ids.insert(id.to_owned()), "{at}: operationId {id} is used twice");
        for key in ["summary", "description"] {
            assert!(op[key].as_str().is_some_and(|s| !s.is_empty()), "{at}: {key}");
        }
        for tag in op["tags"].as_array().unwrap_or_else(|| panic!("{at}: tags")) {
            assert!(tags.contains(tag.as_str().unwrap_or_default()), "{at}: undeclared tag {tag}");
        }
        for role in documented_roles(op).into_iter().flatten() {
            assert!(ROLES.contains(&role.as_str()), "{at}: unknown role {role}");
        }
        assert!(
            op["x-codeSamples"][0]["source"].as_str().is_some_and(|s| s.starts_with("curl ")),
            "{at}: a curl sample"
        );
        // Path parameters and the template name the same things.
        let in_template: BTreeSet<String> =
            path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).map(str::to_owned).collect();
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(in_template, declared, "{at}: path parameters");
        // Every example matches its schema.
        for p in op["parameters"].as_array().into_iter().flatten() {
            let p = resolve(&doc, p);
            check(&doc, &p["schema"], &p["example"], &format!("{at} parameter {}", p["name"]));
        }
        let mut media = Vec::new();
        if let Some(content) = op["requestBody"]["content"].as_object() {
            media.extend(content.iter().map(|(t, m)| (format!("{at} request {t}"), m)));
        }
        for (status, response) in op["responses"].as_object().expect("responses") {
            let response = resolve(&doc, response);
            assert!(response["description"].is_string(), "{at} {status}: description");
            for (t, m) in response["content"].as_object().into_iter().flatten() {
                media.push((format!("{at} {status} {t}"), m));
            }
        }
        for (where_, m) in media {
            assert!(m["schema"].is_object(), "{where_}: schema");
            if let Some(e) = m.get("example")
                && where_.contains("json")
            {
                check(&doc, &m["schema"], e, &where_);
            }
            for (name, e) in m["examples"].as_object().into_iter().flatten() {
                check(&doc, &m["schema"], &e["value"], &format!("{where_} example {name}"));
            }
        }
    }
    // Examples given inside component schemas match them too.
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        for e in schema.get("examples").and_then(Value::as_array).into_iter().flatten() {
            check(&doc, schema, e, &format!("schema {name} example"));
        }
    }
}

// ----- the document against api.rs and error.rs -----

fn documented_enum(doc: &Value, schema: &str) -> Vec<String> {
    doc["components"]["schemas"][schema]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("schema {schema} is an enum"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

fn names(items: impl IntoIterator<Item = &'static str>) -> Vec<String> {
    items.into_iter().map(str::to_owned).collect()
}

#[test]
fn enums_are_those_of_the_code() {
    use vigie_core::{NumberCategory as C, NumberStatus, Outcome, PoolRole, ReportSource};
    let doc = doc();
    assert_eq!(documented_enum(&doc, "Outcome"), names(Outcome::ALL.iter().map(|o| o.as_str())));
    assert_eq!(documented_enum(&doc, "ReportSource"), names(ReportSource::ALL.iter().map(|s| s.as_str())));
    assert_eq!(documented_enum(&doc, "LegalBasis"), names(vigie_store::LegalBasis::ALL.iter().map(|b| b.as_str())));
    // A new variant breaks these matches, and so reminds whoever adds it to document it.
    let status = |s: NumberStatus| match s {
        NumberStatus::Active | NumberStatus::Quarantined | NumberStatus::Reserve | NumberStatus::Retired => s.as_str(),
    };
    let mut states = names(
        [NumberStatus::Active, NumberStatus::Quarantined, NumberStatus::Reserve, NumberStatus::Retired].map(status),
    );
    states.push("resting".into());
    let mut documented = documented_enum(&doc, "NumberState");
    documented.sort();
    states.sort();
    assert_eq!(documented, states);
    let role = |r: PoolRole| match r {
        PoolRole::Outbound | PoolRole::Inbound | PoolRole::Reserve => r.as_str(),
    };
    assert_eq!(
        documented_enum(&doc, "PoolRole"),
        names([PoolRole::Outbound, PoolRole::Inbound, PoolRole::Reserve].map(role))
    );
    let category = |c: C| match c {
        C::Geographic { .. }
        | C::NonGeographic
        | C::PlatformPolyvalent
        | C::VerifiedPolyvalent { .. }
        | C::Special
        | C::Mobile
        | C::Premium
        | C::Foreign => c.as_str(),
    };
    let categories = [
        C::Geographic { zone: 1 },
        C::NonGeographic,
        C::PlatformPolyvalent,
        C::VerifiedPolyvalent { zone: None },
        C::Special,
        C::Mobile,
        C::Premium,
        C::Foreign,
    ];
    assert_eq!(documented_enum(&doc, "NumberCategory"), names(categories.map(category)));
    let backends = doc["components"]["schemas"]["Health"]["properties"]["backend"]["enum"].clone();
    assert_eq!(backends, json!([vigie_store::Backend::Sqlite.as_str(), vigie_store::Backend::Postgres.as_str()]));
    // The PATCH actions are the string arms of `patch_number`'s match.
    let src = strip_comments(API_RS);
    let (_, body) = body_of(&src, "async fn patch_number(").expect("api.rs defines patch_number");
    let arms: Vec<String> = body
        .split("=>")
        .filter_map(|before| before.trim_end().strip_suffix('"').and_then(|b| b.rsplit('"').next()).map(str::to_owned))
        .collect();
    assert_eq!(documented_enum(&doc, "NumberAction"), arms);
    // The calling rules and dialling modes are the core's.
    assert_eq!(documented_enum(&doc, "CallRule"), names(vigie_core::CallRule::ALL.iter().map(|r| r.as_str())));
    assert_eq!(documented_enum(&doc, "DiallingMode"), names(vigie_core::DiallingMode::ALL.iter().map(|m| m.as_str())));
    assert_eq!(documented_enum(&doc, "PurposeClass"), names(vigie_core::PurposeClass::ALL.iter().map(|c| c.as_str())));
    assert_eq!(documented_enum(&doc, "SmsStatus"), names(vigie_core::SmsStatus::ALL.iter().map(|s| s.as_str())));
    assert_eq!(documented_enum(&doc, "SmsEncoding"), names(vigie_core::SmsEncoding::ALL.iter().map(|e| e.as_str())));
    assert_eq!(documented_enum(&doc, "SmsOptOutSource"), names(crate::sms_api::OPTOUT_SOURCES));
    let kinds = doc["components"]["schemas"]["Opposition"]["properties"]["kind"]["enum"].clone();
    assert_eq!(kinds, json!(vigie_store::OppositionKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()));
}

async fn error_body(e: ApiError) -> (u16, Value) {
    let r = e.into_response();
    let status = r.status().as_u16();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.expect("an error body");
    (status, serde_json::from_slice(&bytes).expect("an error body is JSON"))
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a test instant")
}

#[tokio::test]
async fn the_error_schema_is_what_error_rs_writes() {
    let doc = doc();
    let schema = json!({ "$ref": "#/components/schemas/Error" });
    let pool = || PoolCode::parse("A").expect("pool code");
    let errors = vec![
        ApiError::invalid("dial_at", "must not be more than 5 minutes in the past"),
        ApiError::from(InvalidField::new("outcome", "must be one of: answered")),
        ApiError::not_found("call", "call_id"),
        ApiError::unauthorized(),
        ApiError::bad_signature("X-Signature"),
        ApiError::forbidden("auditor"),
        ApiError::too_large(65_536),
        ApiError::malformed("the body is not valid JSON: EOF"),
        ApiError::unavailable("the database does not answer"),
        ApiError::from(StoreError::Conflict { field: "call_ref", message: "call_ref was already used".into() }),
        ApiError::from(StoreError::NoCapacity { pool: pool(), retry_at: Some(ts("2026-11-27T23:00:00Z")) }),
        ApiError::from(StoreError::NoCapacity { pool: pool(), retry_at: None }),
        ApiError::from(StoreError::Rows(vec![
            RowProblem { index: 0, field: "number", message: "mobile numbers (06, 07) are never presented".into() },
            RowProblem { index: 0, field: "pool", message: "pool Z is not configured".into() },
        ])),
        ApiError::from(StoreError::Rule(vigie_core::RuleRefusal {
            rule: vigie_core::CallRule::SolicitationHours,
            next_allowed_at: Some(ts("2026-11-27T13:00:00Z")),
        })),
        ApiError::from(StoreError::Rule(vigie_core::RuleRefusal {
            rule: vigie_core::CallRule::ConsentMissing,
            next_allowed_at: None,
        })),
        ApiError::from(StoreError::Closed),
        ApiError::from(StoreError::Corrupt("test".into())),
    ];
    let (props, required) = object_members(&doc, &schema);
    let mut seen_members = BTreeSet::new();
    let mut status_of_code: BTreeMap<String, u16> = BTreeMap::new();
    for e in errors {
        let (status, body) = error_body(e).await;
        check(&doc, &schema, &body, "error");
        let members: BTreeSet<String> = body.as_object().expect("an object").keys().cloned().collect();
        assert!(members.is_subset(&props), "error.rs writes {members:?}, the schema has {props:?}");
        assert!(required.is_subset(&members));
        for row in body["rows"].as_array().into_iter().flatten() {
            check(&doc, &json!({ "$ref": "#/components/schemas/RowError" }), row, "row");
            let (row_props, _) = object_members(&doc, &json!({ "$ref": "#/components/schemas/RowError" }));
            let row_members: BTreeSet<String> = row.as_object().expect("a row").keys().cloned().collect();
            assert_eq!(row_members, row_props, "error.rs's RowError and the schema's");
        }
        seen_members.extend(members);
        let code = body["error"].as_str().expect("a code").to_owned();
        assert_eq!(*status_of_code.entry(code.clone()).or_insert(status), status, "{code} has one status");
    }
    assert_eq!(seen_members, props, "every member of the Error schema is one error.rs writes");
    let codes: BTreeSet<String> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .expect("the codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let written: BTreeSet<String> = status_of_code.keys().cloned().collect();
    assert_eq!(codes, written, "the documented codes are those error.rs writes");
    // Every error example sits under the status its code is answered with.
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let response = resolve(&doc, response);
            for (name, e) in response["content"]["application/json"]["examples"].as_object().into_iter().flatten() {
                if let Some(code) = e["value"]["error"].as_str() {
                    let want = status_of_code.get(code).map(u16::to_string);
                    assert_eq!(
                        want.as_deref(),
                        Some(status.as_str()),
                        "{method} {path}: example {name} ({code}) under {status}"
                    );
                }
            }
        }
    }
}

/// Parses a body as a handler does: `parse`, and `validate` where the DTO has one.
type Parser = fn(&Bytes) -> Result<(), ApiError>;

fn parses<T: DeserializeOwned>(b: &Bytes) -> Result<(), ApiError> {
    api::parse::<T>(b).map(|_| ())
}

fn parses_facility(b: &Bytes) -> Result<(), ApiError> {
    api::parse::<api::FacilityIn>(b)?.validate().map(|_| ())
}

fn parses_number(b: &Bytes) -> Result<(), ApiError> {
    api::parse::<api::NumberIn>(b)?.validate().map(|_| ())
}

fn parses_optout(b: &Bytes) -> Result<(), ApiError> {
    api::parse::<crate::sms_api::OptOutIn>(b)?.validate().map(|_| ())
}

/// The bodies no DTO reads: an SMS gateway's receipts, read through the provider's
/// `WebhookConfig` (its JSON pointers), checked by `receipt_examples_are_read_by_the_default_webhook`.
const GATEWAY_BODIES: [(&str, &str); 1] = [("/v1/sms/receipts/{provider}", "post")];

#[tokio::test]
async fn request_bodies_are_what_the_handlers_parse() {
    let doc = doc();
    let parsers: [(&str, &str, Parser); 16] = [
        ("/v1/reports/inbound/{source}", "post", parses::<api::InboundReportIn>),
        ("/v1/alerts/{alert_id}/ack", "post", parses::<crate::monitor_api::AckIn>),
        ("/v1/incidents/{incident_id}/steps/{step}", "post", parses::<crate::monitor_api::StepIn>),
        ("/v1/incidents/{incident_id}/close", "post", parses::<crate::monitor_api::CloseIn>),
        ("/v1/facilities", "post", parses_facility),
        ("/v1/calls", "post", parses::<api::CallIn>),
        ("/v1/calls/{call_id}", "patch", parses::<api::CallPatchIn>),
        ("/v1/calls/{call_id}/cancel", "post", parses::<api::CallCancelIn>),
        ("/v1/calls/{call_id}/outcome", "post", parses::<api::OutcomeIn>),
        ("/v1/reports", "post", parses::<api::ReportIn>),
        ("/v1/numbers", "post", parses_number),
        ("/v1/numbers/{number}", "patch", parses::<api::NumberPatch>),
        ("/v1/consents", "post", parses::<crate::compliance_api::ConsentIn>),
        ("/v1/consents/{consent_id}/withdraw", "post", parses::<crate::compliance_api::WithdrawIn>),
        ("/v1/sms/optouts", "post", parses_optout),
        ("/v1/sms/optouts/lookup", "post", parses::<crate::sms_api::OptOutLookupIn>),
    ];
    // Members serde leaves optional but the handler then requires.
    let required_by_handler: [(&str, &str); 5] = [
        ("/v1/incidents/{incident_id}/steps/{step}", "note"),
        ("/v1/incidents/{incident_id}/close", "note"),
        ("/v1/numbers/{number}", "reason"),
        ("/v1/calls/{call_id}", "reason"),
        ("/v1/calls/{call_id}/cancel", "reason"),
    ];
    let with_body: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(_, _, op)| op.get("requestBody").is_some())
        .map(|(p, m, _)| (p, m))
        .filter(|(p, m)| !GATEWAY_BODIES.contains(&(p.as_str(), m.as_str())))
        .collect();
    let covered: BTreeSet<(String, String)> =
        parsers.iter().map(|(p, m, _)| ((*p).to_owned(), (*m).to_owned())).collect();
    assert_eq!(with_body, covered, "every documented request body is checked against its DTO here");
    for (path, method, parse) in parsers {
        let at = format!("{method} {path}");
        let media = &operation(&doc, path, method)["requestBody"]["content"]["application/json"];
        let schema = resolve(&doc, &media["schema"]);
        assert_eq!(schema["additionalProperties"], Value::Bool(false), "{at}: the DTOs deny unknown fields");
        let (props, required) = object_members(&doc, schema);
        let examples: Vec<&Value> =
            media["examples"].as_object().expect("examples").values().map(|e| &e["value"]).collect();
        for e in &examples {
            if let Err(err) = parse(&Bytes::from(e.to_string())) {
                panic!("{at}: the example {e} is refused: {:?}", error_body(err).await);
            }
        }
        let full = examples
            .iter()
            .find(|e| e.as_object().is_some_and(|o| o.keys().cloned().collect::<BTreeSet<_>>() == props))
            .unwrap_or_else(|| panic!("{at}: one example carries every member"));
        for member in &props {
            let mut without = (*full).clone();
            without.as_object_mut().expect("an object").remove(member);
            let result = parse(&Bytes::from(without.to_string()));
            let serde_requires = required.contains(member) && !required_by_handler.contains(&(path, member.as_str()));
            match result {
                Ok(()) => assert!(!serde_requires, "{at}: `{member}` is documented as required but may be left out"),
                Err(e) => {
                    let (status, body) = error_body(e).await;
                    assert!(serde_requires, "{at}: `{member}` is documented as optional but is required: {body}");
                    assert_eq!((status, body["field"].as_str()), (422, Some(member.as_str())), "{at}");
                }
            }
        }
        let mut extra = (*full).clone();
        extra.as_object_mut().expect("an object").insert("zzz".into(), json!(1));
        let e = parse(&Bytes::from(extra.to_string())).expect_err("an unknown member is refused");
        let (status, body) = error_body(e).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("zzz")), "{at}");
        let e = parse(&Bytes::from_static(b"{")).expect_err("not JSON");
        assert_eq!(error_body(e).await.1["error"], "malformed_json", "{at}");
    }
}

#[test]
fn receipt_examples_are_read_by_the_default_webhook() {
    let doc = doc();
    let webhook = vigie_sms::WebhookConfig::new("gw", b"shared secret");
    for (path, method) in GATEWAY_BODIES {
        let examples = operation(&doc, path, method)["requestBody"]["content"]["application/json"]["examples"]
            .as_object()
            .expect("examples");
        assert!(!examples.is_empty(), "{method} {path}: request examples");
        for (name, e) in examples {
            let body = e["value"].to_string();
            let read = webhook.receipt(Some(&webhook.sign(body.as_bytes())), body.as_bytes());
            assert!(read.is_ok(), "{method} {path}: example {name} is not read by the default webhook: {read:?}");
        }
    }
    let scheme = &doc["components"]["securitySchemes"][SIGNED];
    assert_eq!(scheme["name"], json!(webhook.signature_header), "the default signature header is documented");
}

// ----- a real server against the document -----

struct Server {
    app: Router,
    doc: Value,
    now: Arc<AtomicI64>,
    keys: BTreeMap<&'static str, String>,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Server {
    async fn start(dir: &std::path::Path) -> (Server, Store) {
        let now = Arc::new(AtomicI64::new(ts("2026-11-27T08:00:00Z").as_second()));
        let clock_now = Arc::clone(&now);
        let clock: vigie_store::Clock =
            Arc::new(move || Timestamp::from_second(clock_now.load(Ordering::SeqCst)).expect("a test instant"));
        let url = format!("sqlite://{}?mode=rwc", dir.join("vigie.db").display());
        let store = Store::open(
            &StoreOptions { sms: sms_policy(), ..StoreOptions::new(url) },
            Catalog::seed_defaults(),
            vigie_store::generate_data_key().0,
            Calendar::paris(),
            clock,
        )
        .await
        .expect("a test store");
        let mut keys = BTreeMap::new();
        for (name, role) in
            [("admin", Role::Admin), ("dialer", Role::Dialer), ("ops", Role::Ops), ("auditor", Role::Auditor)]
        {
            keys.insert(name, store.create_key(&format!("{name}-key"), role, "test").await.expect("a key"));
        }
        let state = crate::AppState::new(store.clone()).with_sms_webhooks([gateway()]);
        let app = crate::router(state, crate::HttpOptions::default());
        (Server { app, doc: doc(), now, keys }, store)
    }

    fn set_now(&self, at: &str) {
        self.now.store(ts(at).as_second(), Ordering::SeqCst);
    }

    /// Sends a request and checks that its status is documented for the operation and
    /// that its body matches the documented content.
    async fn send(&self, method: &str, template: &str, path: &str, key: Option<&str>, body: Option<Vec<u8>>) -> Answer {
        self.send_with(method, template, path, key, &[], body).await
    }

    /// `send` with more headers.
    async fn send_with(
        &self,
        method: &str,
        template: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = Request::builder().method(method.to_ascii_uppercase().as_str()).uri(path);
        if let Some(role) = key {
            let token = self.keys.get(role).map_or(role.to_owned(), Clone::clone);
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).expect("a request");
        let res = self.app.clone().oneshot(req).await.expect("the router answers");
        let status = res.status().as_u16();
        let content_type =
            res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("a body");
        let at = format!("{method} {path} → {status}");
        let op = operation(&self.doc, template, method);
        let response = op["responses"]
            .get(status.to_string())
            .map(|r| resolve(&self.doc, r))
            .unwrap_or_else(|| panic!("{at}: status not documented; body {}", String::from_utf8_lossy(&bytes)));
        let essence = |t: &str| t.split(';').next().unwrap_or("").trim().to_owned();
        let Some(content) = response["content"].as_object() else {
            assert!(bytes.is_empty(), "{at}: documented without a body");
            return Answer { status, body: Value::Null };
        };
        let media = content
            .iter()
            .find(|(t, _)| essence(t) == essence(&content_type))
            .map(|(_, m)| m)
            .unwrap_or_else(|| panic!("{at}: content type {content_type} not documented"));
        let body = if essence(&content_type) == "application/json" {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
            check(&self.doc, &media["schema"], &v, &at);
            v
        } else {
            Value::String(String::from_utf8(bytes.to_vec()).expect("text"))
        };
        Answer { status, body }
    }

    async fn json(&self, method: &str, template: &str, path: &str, key: &str, body: &Value) -> Answer {
        self.send(method, template, path, Some(key), Some(body.to_string().into_bytes())).await
    }

    async fn get(&self, template: &str, path: &str, key: Option<&str>) -> Answer {
        self.send("get", template, path, key, None).await
    }

    fn example(&self, path: &str, method: &str, name: &str) -> Value {
        request_example(&self.doc, path, method, name).clone()
    }

    /// Posts a receipt to the `gw` gateway's webhook, signed with `signature` (the
    /// body's own when `None`).
    async fn receipt(&self, provider: &str, body: &[u8], signature: Option<&str>) -> Answer {
        let signature = signature.map_or_else(|| gateway().sign(body), str::to_owned);
        let path = format!("/v1/sms/receipts/{provider}");
        let headers = [("X-Signature", signature)];
        self.send_with("post", "/v1/sms/receipts/{provider}", &path, None, &headers, Some(body.to_vec())).await
    }
}

/// The announced purposes of the test server: reminders, and surveys whose calls stop
/// with their SMS.
fn sms_policy() -> vigie_store::SmsPolicy {
    let purpose = |name: &str, stop_ends_calls: bool| {
        let text = vigie_core::default_template_text(name, vigie_core::Language::Fr).expect("a default text");
        let sms = vigie_store::PurposeSms {
            timing: vigie_core::SmsTiming::default(),
            template: vigie_core::Template::parse("t", text, 3).expect("the default text fits"),
            facility_templates: std::collections::HashMap::new(),
            require_announcement: false,
            stop_ends_calls,
        };
        (vigie_core::Purpose::parse(name).expect("a purpose"), sms)
    };
    vigie_store::SmsPolicy {
        purposes: [purpose("appointment_reminder", false), purpose("satisfaction_survey", true)].into(),
        ..vigie_store::SmsPolicy::default()
    }
}

/// The test server's HTTP gateway.
fn gateway() -> vigie_sms::WebhookConfig {
    vigie_sms::WebhookConfig::new("gw", b"shared secret")
}

#[tokio::test]
async fn a_server_answers_as_documented() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("vigie-http-openapi-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (s, store) = Server::start(&dir).await;
    run_through(&s, &store).await;
    drop(s);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn run_through(s: &Server, store: &Store) {
    // Probes and documents.
    assert_eq!(s.get("/livez", "/livez", None).await.body, "ok");
    assert_eq!(s.get("/healthz", "/healthz", None).await.body["backend"], "sqlite");
    assert_eq!(s.get("/metrics", "/metrics", None).await.status, 200);
    assert_eq!(s.get("/openapi.json", "/openapi.json", None).await.body, s.doc);
    // Keys.
    assert_eq!(s.get("/v1/pools", "/v1/pools", None).await.status, 401);
    assert_eq!(s.get("/v1/pools", "/v1/pools", Some("vk_not-a-key")).await.status, 401);

    // Facilities.
    let (fac, post) = ("/v1/facilities", "post");
    let facility = s.example(fac, post, "clinique-saint-jean");
    assert_eq!(s.json(post, fac, fac, "auditor", &facility).await.status, 403);
    assert_eq!(s.json(post, fac, fac, "ops", &facility).await.status, 201);
    assert_eq!(s.json(post, fac, fac, "ops", &facility).await.status, 200);
    assert_eq!(s.send(post, fac, fac, Some("ops"), Some(b"{\"id\":".to_vec())).await.status, 400);
    let mut no_city = facility.clone();
    no_city.as_object_mut().expect("an object").remove("city");
    assert_eq!(s.json(post, fac, fac, "ops", &no_city).await.body["field"], "city");
    assert_eq!(s.get(fac, fac, Some("auditor")).await.body[0]["id"], facility["id"]);

    // Numbers.
    let nums = "/v1/numbers";
    let number = s.example(nums, post, "geographic");
    assert_eq!(s.json(post, nums, nums, "ops", &number).await.body["state"], "active");
    assert_eq!(s.json(post, nums, nums, "ops", &number).await.status, 409);
    assert_eq!(s.json(post, nums, nums, "admin", &s.example(nums, post, "reserve")).await.body["state"], "reserve");
    let bad = json!({"number": "+33612345678", "pool": "Z", "display_name": "X", "callback": "+33478100000"});
    assert_eq!(s.json(post, nums, nums, "ops", &bad).await.body["rows"].as_array().map(Vec::len), Some(2));
    let bad = json!({"number": "+33612345679", "pool": "A", "display_name": "X", "callback": "+33478100000"});
    assert_eq!(s.json(post, nums, nums, "ops", &bad).await.body["field"], "number");

    // Calls.
    let calls = "/v1/calls";
    let call = s.example(calls, post, "reminder");
    assert_eq!(s.json(post, calls, calls, "ops", &call).await.status, 403);
    let first = s.json(post, calls, calls, "dialer", &call).await;
    assert_eq!((first.status, &first.body["caller_number"]), (201, &number["number"]));
    let again = s.json(post, calls, calls, "dialer", &call).await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    let mut other = call.clone();
    other["patient_ref"] = json!("p-other");
    assert_eq!(s.json(post, calls, calls, "dialer", &other).await.body["error"], "conflict");
    let mut results = call.clone();
    results["call_ref"] = json!("dialer-42-0002");
    results["purpose"] = json!("results_followup");
    let full = s.json(post, calls, calls, "dialer", &results).await;
    assert_eq!((full.status, &full.body["error"], &full.body["pool"]), (409, &json!("no_capacity"), &json!("B")));
    let mut unknown = call.clone();
    unknown["call_ref"] = json!("dialer-42-0003");
    unknown["facility"] = json!("clinique-inconnue");
    assert_eq!(s.json(post, calls, calls, "dialer", &unknown).await.body["field"], "facility");
    let mut numeric = call.clone();
    numeric["call_ref"] = json!("+33612345678");
    assert_eq!(s.json(post, calls, calls, "dialer", &numeric).await.body["field"], "call_ref");
    let big = vec![b' '; crate::HttpOptions::default().body_bytes_max + 1];
    assert_eq!(s.send(post, calls, calls, Some("dialer"), Some(big.clone())).await.status, 413);
    let req = Request::post(calls)
        .header(header::CONTENT_LENGTH, big.len())
        .header(header::AUTHORIZATION, format!("Bearer {}", s.keys["dialer"]))
        .body(Body::from(big))
        .expect("a request");
    assert_eq!(s.app.clone().oneshot(req).await.expect("an answer").status().as_u16(), 413);

    // Reading a call.
    let one = "/v1/calls/{call_id}";
    let id = first.body["call_id"].as_i64().expect("an id");
    let path = format!("/v1/calls/{id}");
    assert_eq!(s.get(one, &path, Some("dialer")).await.body["patient_phone"], call["patient_phone"]);
    assert_eq!(s.get(one, &path, Some("admin")).await.body["patient_phone"], "+33•••••••••");
    assert_eq!(s.get(one, "/v1/calls/abc", Some("auditor")).await.status, 422);
    assert_eq!(s.get(one, "/v1/calls/999", Some("auditor")).await.status, 404);

    // The call's SMS: planned at the start of its window, submitted, then its receipt.
    assert_eq!(first.body["sms_at"], "2026-11-27T08:00:00Z");
    let planned = s.get(one, &path, Some("auditor")).await.body["sms"].clone();
    assert_eq!((&planned["status"], &planned["encoding"]), (&json!("queued"), &json!("gsm7")));
    let segments = planned["segments"].as_u64().expect("segments");
    let due = store.claim_due_sms("test-dispatcher", ts("2026-11-27T08:00:00Z"), 10).await.expect("due SMS");
    assert_eq!(due.len(), 1);
    let accepted = vigie_store::SubmitResult::Accepted { provider: "gw".into(), message_ids: vec!["gw-1".into()] };
    store.record_sms_submission(due[0].id, &accepted, ts("2026-11-27T08:00:00Z")).await.expect("recorded");
    let receipts = "/v1/sms/receipts/{provider}";
    let delivered = s.example(receipts, post, "delivered").to_string().into_bytes();
    assert_eq!(s.receipt("other-gw", &delivered, None).await.status, 404);
    assert_eq!(s.receipt("gw", &delivered, Some("sha256=00")).await.status, 401);
    assert_eq!(s.send(post, receipts, "/v1/sms/receipts/gw", None, Some(delivered.clone())).await.status, 401);
    assert_eq!(s.get(one, &path, Some("auditor")).await.body["sms"]["status"], "submitted");
    assert_eq!(s.receipt("gw", b"{\"message_id\":", None).await.status, 400);
    assert_eq!(s.receipt("gw", br#"{"message_id":"gw-1"}"#, None).await.body["field"], "status");
    assert_eq!(s.receipt("gw", br#"{"message_id":"gw-1","status":"lost"}"#, None).await.body["field"], "status");
    let unknown = s.receipt("gw", br#"{"message_id":"gw-999","status":"DELIVRD"}"#, None).await;
    assert_eq!((unknown.status, &unknown.body["applied"]), (202, &json!(false)));
    let applied = s.receipt("gw", &delivered, None).await;
    assert_eq!((applied.status, &applied.body["status"]), (200, &json!("delivered")));
    let settled = s.get(one, &path, Some("auditor")).await.body["sms"].clone();
    assert_eq!((&settled["status"], &settled["submitted_at"]), (&json!("delivered"), &json!("2026-11-27T08:00:00Z")));

    // Moving a call, then cancelling it: its SMS follow.
    let mut moving = call.clone();
    moving["call_ref"] = json!("dialer-42-0006");
    moving["patient_ref"] = json!("p-moved-0006");
    let second = s.json(post, calls, calls, "dialer", &moving).await;
    assert_eq!((second.status, &second.body["sms_at"]), (201, &json!("2026-11-27T08:00:00Z")));
    let second_path = format!("/v1/calls/{}", second.body["call_id"]);
    let later = s.example(one, "patch", "later");
    assert_eq!(s.json("patch", one, &second_path, "ops", &later).await.status, 403);
    let moved = s.json("patch", one, &second_path, "dialer", &later).await;
    assert_eq!(
        (moved.status, &moved.body["dial_at"], &moved.body["caller_number"], &moved.body["sms_cancelled"]),
        (200, &json!("2026-11-27T14:30:00Z"), &number["number"], &json!(1))
    );
    assert_eq!(moved.body["sms_at"], "2026-11-27T14:00:00Z");
    let far = json!({"dial_at": "2027-01-27T14:30:00Z", "reason": "later"});
    assert_eq!(s.json("patch", one, &second_path, "dialer", &far).await.body["field"], "dial_at");
    let no_reason = json!({"dial_at": "2026-11-27T14:30:00Z"});
    assert_eq!(s.json("patch", one, &second_path, "dialer", &no_reason).await.body["field"], "reason");
    let cancel = "/v1/calls/{call_id}/cancel";
    let cancel_path = format!("{second_path}/cancel");
    let why = s.example(cancel, post, "cancelled");
    assert_eq!(s.json(post, cancel, &cancel_path, "auditor", &why).await.status, 403);
    let cancelled = s.json(post, cancel, &cancel_path, "ops", &why).await;
    assert_eq!(
        (cancelled.status, &cancelled.body["status"], &cancelled.body["sms_cancelled"]),
        (200, &json!("cancelled"), &json!(1))
    );
    assert_eq!(s.json(post, cancel, &cancel_path, "dialer", &why).await.status, 409);
    assert_eq!(s.json("patch", one, &second_path, "dialer", &later).await.status, 409);
    assert_eq!(s.json(post, cancel, "/v1/calls/999/cancel", "dialer", &why).await.status, 404);
    assert_eq!(s.json(post, cancel, "/v1/calls/abc/cancel", "dialer", &why).await.status, 422);
    let read = s.get(one, &second_path, Some("auditor")).await.body;
    assert_eq!(
        (&read["status"], &read["cancel_reason"], &read["sms"]["status"]),
        (&json!("cancelled"), &why["reason"], &json!("cancelled"))
    );
    let mut cancelled_outcome = s.example("/v1/calls/{call_id}/outcome", post, "minimal");
    cancelled_outcome["ended_at"] = json!("2026-11-27T07:59:00Z");
    let answer = s
        .json(post, "/v1/calls/{call_id}/outcome", &format!("{second_path}/outcome"), "dialer", &cancelled_outcome)
        .await;
    assert_eq!((answer.status, &answer.body["field"]), (409, &json!("call_id")));

    // SMS opt-outs, and a survey call to the patient who opted out.
    let optouts = "/v1/sms/optouts";
    let optout = s.example(optouts, post, "agent");
    assert_eq!(s.json(post, optouts, optouts, "auditor", &optout).await.status, 403);
    let recorded = s.json(post, optouts, optouts, "dialer", &optout).await;
    assert_eq!((recorded.status, &recorded.body["source"]), (201, &json!("agent")));
    let mut letter = optout.clone();
    letter["source"] = json!("letter");
    let known = s.json(post, optouts, optouts, "ops", &letter).await;
    assert_eq!((known.status, &known.body["source"]), (200, &json!("agent")));
    let mut bad = optout.clone();
    bad["patient_phone"] = json!("hello");
    assert_eq!(s.json(post, optouts, optouts, "ops", &bad).await.body["field"], "patient_phone");
    bad["patient_phone"] = optout["patient_phone"].clone();
    bad["source"] = json!("pigeon");
    assert_eq!(s.json(post, optouts, optouts, "ops", &bad).await.body["field"], "source");
    let lookup = "/v1/sms/optouts/lookup";
    let asked = s.example(lookup, post, "patient");
    assert_eq!(s.json(post, lookup, lookup, "dialer", &asked).await.status, 403);
    let found = s.json(post, lookup, lookup, "auditor", &asked).await;
    assert_eq!(
        (found.status, &found.body["opted_out"], &found.body["at"]),
        (200, &json!(true), &json!("2026-11-27T08:00:00Z"))
    );
    let nobody = s.json(post, lookup, lookup, "ops", &json!({"patient_phone": "06 99 99 99 99"})).await;
    assert_eq!((&nobody.body["opted_out"], &nobody.body["source"]), (&json!(false), &Value::Null));
    assert_eq!(
        s.json(post, lookup, lookup, "ops", &json!({"patient_phone": "+3361"})).await.body["field"],
        "patient_phone"
    );
    let mut survey = call.clone();
    survey["call_ref"] = json!("dialer-42-0005");
    survey["purpose"] = json!("satisfaction_survey");
    survey["patient_phone"] = optout["patient_phone"].clone();
    let stopped = s.json(post, calls, calls, "dialer", &survey).await;
    assert_eq!((stopped.status, &stopped.body["rule"]), (409, &json!("sms_stop")));

    // Outcomes and reports, 35 minutes later.
    s.set_now("2026-11-27T08:35:00Z");
    let outcome = "/v1/calls/{call_id}/outcome";
    let out_path = format!("{path}/outcome");
    let rejected = s.example(outcome, post, "rejected");
    assert_eq!(s.json(post, outcome, &out_path, "dialer", &rejected).await.body["report"], Value::Null);
    assert_eq!(s.json(post, outcome, &out_path, "dialer", &s.example(outcome, post, "minimal")).await.status, 200);
    assert_eq!(s.json(post, outcome, "/v1/calls/999/outcome", "dialer", &rejected).await.status, 404);
    assert_eq!(s.json(post, outcome, &out_path, "auditor", &rejected).await.status, 403);
    let mut late = rejected.clone();
    late["ended_at"] = json!("2026-11-27T10:00:00Z");
    assert_eq!(s.json(post, outcome, &out_path, "dialer", &late).await.body["field"], "ended_at");
    assert_eq!(s.get(one, &path, Some("dialer")).await.body["status"], "completed");
    let reports = "/v1/reports";
    let report = s.example(reports, post, "patient");
    let filed = s.json(post, reports, reports, "ops", &report).await;
    assert_eq!((filed.status, &filed.body["reports_that_day"]), (202, &json!(1)));
    let mut unknown = report.clone();
    unknown["number"] = json!("+33478999999");
    assert_eq!(s.json(post, reports, reports, "dialer", &unknown).await.status, 404);
    let spam = s.json(post, outcome, &out_path, "dialer", &s.example(outcome, post, "shown_as_spam")).await;
    assert_eq!(spam.body["report"]["quarantined"], true);
    let metrics = s.get("/metrics", "/metrics", None).await.body;
    let metrics = metrics.as_str().expect("text");
    let labels = "facility=\"clinique-saint-jean\",purpose=\"appointment_reminder\",status=\"delivered\"";
    for line in [
        format!("vigie_sms_total{{{labels}}} 1\n"),
        format!("vigie_sms_segments_total{{{labels}}} {segments}\n"),
        // The last outcome posted (shown as spam) was answered.
        "vigie_answer_rate{pool=\"A\",announced=\"true\"} 1\n".to_owned(),
        "vigie_answer_rate_calls{pool=\"A\",announced=\"true\"} 1\n".to_owned(),
        "vigie_answer_rate_answered{pool=\"A\",announced=\"true\"} 1\n".to_owned(),
    ] {
        assert!(metrics.contains(&line), "/metrics lacks {line:?}:\n{metrics}");
    }

    // A number's state.
    let detail = "/v1/numbers/{number}";
    let number_path = format!("/v1/numbers/{}", number["number"].as_str().expect("a number"));
    assert_eq!(s.get(detail, &number_path, Some("auditor")).await.body["state"], "quarantined");
    assert_eq!(s.get(detail, "/v1/numbers/%2B33478200001", Some("auditor")).await.status, 200);
    assert_eq!(s.get(detail, "/v1/numbers/hello", Some("auditor")).await.status, 422);
    assert_eq!(s.get(detail, "/v1/numbers/+33145999999", Some("auditor")).await.status, 404);
    let patch = "patch";
    let release = s.example(detail, patch, "release");
    assert_eq!(s.json(patch, detail, &number_path, "dialer", &release).await.status, 403);
    assert_eq!(s.json(patch, detail, &number_path, "ops", &release).await.body["state"], "active");
    assert_eq!(s.json(patch, detail, &number_path, "ops", &release).await.body["error"], "conflict");
    assert_eq!(s.json(patch, detail, &number_path, "ops", &json!({"action": "release"})).await.body["field"], "reason");
    let nowhere = json!({"action": "move", "pool": "Z", "reason": "test"});
    assert_eq!(s.json(patch, detail, &number_path, "ops", &nowhere).await.body["field"], "pool");
    let moved = s.json(patch, detail, &number_path, "admin", &s.example(detail, patch, "move")).await;
    assert_eq!(moved.body["pool"], "B");
    assert!(moved.body["history"].as_array().is_some_and(|h| h.len() >= 4));

    // Identity (compliance_api.rs).
    let identity = s.json(patch, detail, &number_path, "ops", &s.example(detail, patch, "identity")).await;
    assert_eq!((identity.status, &identity.body["man_authenticated"]), (200, &json!(true)));
    assert_eq!(
        s.json(patch, detail, &number_path, "ops", &json!({"action": "identity", "reason": "x"})).await.status,
        422
    );

    // A care call on a Sunday: refused by the care hours, with the next allowed instant.
    let mut sunday = call.clone();
    sunday["call_ref"] = json!("dialer-42-0004");
    sunday["dial_at"] = json!("2026-11-29T10:00:00+01:00");
    let refused = s.json(post, calls, calls, "dialer", &sunday).await;
    assert_eq!((refused.status, &refused.body["rule"]), (409, &json!("care_hours")));
    assert_eq!(refused.body["next_allowed_at"], "2026-11-30T07:00:00Z");

    // Consents.
    let consents = "/v1/consents";
    let consent = s.example(consents, post, "web_form");
    assert_eq!(s.json(post, consents, consents, "dialer", &consent).await.status, 403);
    let given = s.json(post, consents, consents, "ops", &consent).await;
    assert_eq!((given.status, &given.body["state"]), (201, &json!("given")));
    let mut bad = consent.clone();
    bad["given_at"] = json!("2027-01-01T00:00:00Z");
    assert_eq!(s.json(post, consents, consents, "ops", &bad).await.body["field"], "given_at");
    let listed = s.get(consents, "/v1/consents?patient_ref=p-7f3a9c", Some("auditor")).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(s.get(consents, "/v1/consents", Some("auditor")).await.status, 422);
    assert_eq!(s.get(consents, "/v1/consents?patient_ref=p-7f3a9c", Some("dialer")).await.status, 403);
    let withdraw = "/v1/consents/{consent_id}/withdraw";
    let withdraw_path = format!("/v1/consents/{}/withdraw", given.body["consent_id"]);
    let withdrawal = s.example(withdraw, post, "withdrawn");
    assert_eq!(s.json(post, withdraw, &withdraw_path, "ops", &withdrawal).await.body["state"], "withdrawn");
    assert_eq!(s.json(post, withdraw, &withdraw_path, "ops", &withdrawal).await.status, 409);
    assert_eq!(s.json(post, withdraw, "/v1/consents/999/withdraw", "admin", &withdrawal).await.status, 404);
    assert_eq!(s.json(post, withdraw, "/v1/consents/abc/withdraw", "admin", &withdrawal).await.status, 422);

    // Lists.
    assert!(s.get(nums, nums, Some("auditor")).await.body.as_array().is_some_and(|n| n.len() == 2));
    assert!(s.get("/v1/pools", "/v1/pools", Some("dialer")).await.body.as_array().is_some_and(|p| p.len() == 6));

    // A patient's rights, admin only.
    let export = "/v1/patients/{patient_ref}/export";
    let reference = call["patient_ref"].as_str().expect("a reference");
    let export_path = format!("/v1/patients/{reference}/export");
    assert_eq!(s.get(export, &export_path, Some("dialer")).await.status, 403);
    let exported = s.get(export, &export_path, Some("admin")).await;
    assert_eq!(exported.body["calls"][0]["patient_phone"], call["patient_phone"]);
    assert_eq!(exported.body["calls"][0]["purpose_class"], "care");
    assert_eq!(exported.body["consents"][0]["state"], "withdrawn");
    assert_eq!(s.get(export, "/v1/patients/+33612345678/export", Some("admin")).await.status, 422);
    let patient = "/v1/patients/{patient_ref}";
    let patient_path = format!("/v1/patients/{reference}");
    assert_eq!(s.send("delete", patient, &patient_path, Some("ops"), None).await.status, 403);
    let erased = s.send("delete", patient, &patient_path, Some("admin"), None).await;
    assert_eq!((&erased.body["calls_erased"], &erased.body["consents_erased"]), (&json!(1), &json!(1)));
    let after = s.get(export, &export_path, Some("admin")).await;
    assert_eq!(after.body["oppositions"][0]["kind"], "consent_ended");
    assert_eq!(s.get(one, &path, Some("dialer")).await.body["patient_ref"], "erased");
}
