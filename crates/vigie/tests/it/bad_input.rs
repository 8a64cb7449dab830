//! Bad input over real HTTP: every JSON body the API takes, mutated (fields dropped,
//! duplicated, retyped, unknown, given injection strings, malformed numbers, impossible
//! dates, out-of-range values; bodies that are arrays, scalars, truncated, nested deep,
//! followed by garbage or over the size limit) gets a clear 4xx with a JSON error and
//! changes nothing in the database; free text that is valid (injection strings,
//! unicode) is stored as written; no answer is ever a 5xx and the server keeps
//! answering. The CSV import's property tests are in `src/import.rs`; here the binary
//! runs on a file with injection strings.
//!
//! The property tests draw their cases from proptest strategies with a fixed seed, so a
//! failure names a case that replays; each case is sent through HTTP and the database
//! is counted before and after.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value, json};
use sqlx::{AnyPool, Row};
use vigie_core::Timestamp;
use vigie_store::{CONSENT_METHOD_MAX, CONSENT_PROOF_MAX, CONSENT_WORDING_MAX};

use crate::helpers::{A1, B1, B2, CallReq, SAINT_JEAN, TestApp, TestDb, hours, mins, spawn_app};

/// Random cases per body kind in the property test.
const CASES_PER_KIND: u32 = 128;

/// The body limit of the default `HttpOptions` the test app runs with.
const BODY_LIMIT: usize = 64 * 1024;

/// SQL (and one NoSQL) injection strings, tried in every field that takes text.
const INJECTIONS: [&str; 7] = [
    "'; DROP TABLE calls; --",
    "1 OR 1=1",
    "\" OR \"\"=\"",
    "'; DELETE FROM audit_log; --",
    "Robert'); DROP TABLE numbers;--",
    "%' OR '1'='1",
    "1; UPDATE numbers SET status = 'active'",
];

/// Texts that are not telephone numbers.
const BAD_PHONES: [&str; 12] = [
    "",
    "+33",
    "+3361234567890123",
    "06 12",
    "+1-800-FLOWERS",
    "0612",
    "+33 4 72",
    "+33472000001 x12",
    "+33\u{0}472000001",
    "０４７２０００００１",
    "tel:+33472000001",
    "+33 (0) 4 72",
];

/// Instants that do not exist or are not RFC 3339 with an offset.
const IMPOSSIBLE_DATES: [&str; 16] = [
    "2026-02-30T10:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-06-01T24:61:00Z",
    "2026-06-10T10:00:00",
    "99999-06-10T10:00:00Z",
    "2026-06-31T10:00:00Z",
    "2026-00-10T10:00:00Z",
    "2026-06-10T10:00:00+99:00",
    "2026-06-10",
    "10:00",
    "",
    "now",
    "1781000000",
    "2026-06-10T10:00:00Zjunk",
    "10/06/2026 10:00",
    "2026-06-10T10:00:00\u{0}Z",
];

/// Well-formed instants at the edges of what jiff represents: the API may take or
/// refuse them, but never fails on them.
const EXTREME_DATES: [&str; 6] = [
    "0001-01-01T00:00:00Z",
    "-009999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2026-06-10T05:59:59.123456789Z",
    "9999-12-31T23:59:59-25:59",
];

// ----- the bodies -----

/// What a field holds, which decides the values that must be refused.
#[derive(Debug, Clone, Copy, PartialEq)]
enum F {
    /// A pseudonymous reference (`call_ref`, `patient_ref`).
    Ref,
    /// A known facility's slug.
    Facility,
    /// A new facility's slug (any well-formed one is valid).
    NewSlug,
    /// A purpose some pool serves.
    Purpose,
    /// A telephone number.
    Phone,
    /// A number to add to the inventory (mobiles, premium rate and duplicates refused).
    Inventory,
    /// A number that must be in the inventory (reports).
    Known,
    /// When a call will be dialled (within the dial window).
    DialAt,
    /// An instant that must not be in the future.
    Past,
    /// A name: trimmed, 1 to `max` characters, no control character.
    Name(usize),
    /// A note: as a name, but tabs and line breaks are allowed.
    Note(usize),
    /// A report's detail: as a note, but it may be empty.
    Detail,
    /// A call outcome word.
    Outcome,
    /// A report source word.
    Source,
    /// A PATCH action word.
    Action,
    /// A pool code.
    Pool,
    /// A count of seconds, at most the value given.
    Seconds(u64),
    /// A SIP status code.
    Sip,
    /// A boolean.
    Flag,
}

/// A field of a body.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    f: F,
    /// Whether the body is valid without it (and with `null`, unless `Detail`).
    optional: bool,
}

const fn req(name: &'static str, f: F) -> Field {
    Field { name, f, optional: false }
}

const fn opt(name: &'static str, f: F) -> Field {
    Field { name, f, optional: true }
}

/// The bodies the API takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Call,
    Outcome,
    Report,
    Number,
    Facility,
    NumberPatch,
    Consent,
}

const KINDS: [Kind; 7] =
    [Kind::Call, Kind::Outcome, Kind::Report, Kind::Number, Kind::Facility, Kind::NumberPatch, Kind::Consent];

impl Kind {
    fn fields(self) -> Vec<Field> {
        match self {
            Kind::Call => vec![
                req("call_ref", F::Ref),
                req("facility", F::Facility),
                req("purpose", F::Purpose),
                req("patient_ref", F::Ref),
                req("patient_phone", F::Phone),
                req("dial_at", F::DialAt),
            ],
            Kind::Outcome => vec![
                req("outcome", F::Outcome),
                req("duration_s", F::Seconds(86_400)),
                req("ended_at", F::Past),
                opt("ring_s", F::Seconds(600)),
                opt("sip_code", F::Sip),
                opt("agent_note", F::Name(64)),
                opt("solicitation_refused", F::Flag),
            ],
            Kind::Report => vec![
                req("number", F::Known),
                req("source", F::Source),
                req("reported_at", F::Past),
                opt("detail", F::Detail),
            ],
            Kind::Number => vec![
                req("number", F::Inventory),
                req("pool", F::Pool),
                opt("facility", F::Facility),
                req("display_name", F::Name(64)),
                req("callback", F::Phone),
            ],
            Kind::Facility => vec![
                req("id", F::NewSlug),
                req("name", F::Name(128)),
                req("display_name", F::Name(64)),
                req("city", F::Name(64)),
                req("callback", F::Phone),
            ],
            Kind::NumberPatch => vec![
                req("action", F::Action),
                req("reason", F::Note(500)),
                opt("display_name", F::Name(64)),
                opt("callback", F::Phone),
                opt("cnam_registered_at", F::Past),
                opt("directory_listed_at", F::Past),
                opt("directory_name", F::Name(128)),
                opt("man_authenticated", F::Flag),
            ],
            Kind::Consent => vec![
                req("patient_ref", F::Ref),
                req("facility", F::Facility),
                req("given_at", F::Past),
                req("wording", F::Note(CONSENT_WORDING_MAX)),
                req("method", F::Name(CONSENT_METHOD_MAX)),
                req("proof", F::Note(CONSENT_PROOF_MAX)),
            ],
        }
    }
}

/// The fixture a kind's bodies refer to: the call whose outcome is posted.
struct Fixture {
    call_id: i64,
}

/// A valid body of `kind` for case `i`, fresh enough that, sent as it is, it would be
/// accepted: its own call_ref, number, facility id and report day.
fn valid(kind: Kind, i: usize, now: Timestamp) -> Map<String, Value> {
    let day = hours(24);
    let body = match kind {
        Kind::Call => CallReq::new(&format!("bad-{i}"), now + hours(1)).json(),
        Kind::Outcome => json!({
            "outcome": "answered", "duration_s": 42, "ended_at": now.to_string(),
            "ring_s": 5, "sip_code": 200, "agent_note": "rappel fait",
        }),
        Kind::Report => json!({
            "number": B1, "source": "patient",
            "reported_at": (now - day * i32::try_from(i + 1).unwrap_or(1)).to_string(),
            "detail": "signalé par la patiente",
        }),
        Kind::Number => json!({
            "number": format!("+339872{i:05}"), "pool": "B", "facility": null,
            "display_name": "Vigie Sante", "callback": "+33478000000",
        }),
        Kind::Facility => json!({
            "id": format!("bad-input-{i}"), "name": "Centre de test SAS", "display_name": "Centre Test",
            "city": "Lyon", "callback": "+33478000000",
        }),
        Kind::NumberPatch => json!({
            "action": "identity", "reason": "dossier opérateur", "display_name": "Vigie Sante",
            "callback": "+33478000000", "cnam_registered_at": (now - day).to_string(),
            "directory_listed_at": (now - day).to_string(), "directory_name": "Vigie Sante SAS",
            "man_authenticated": true,
        }),
        Kind::Consent => json!({
            "patient_ref": format!("pat-consent-{i}"), "facility": SAINT_JEAN,
            "given_at": (now - hours(1)).to_string(),
            "wording": "J'accepte d'être appelé(e) pour des offres de services.",
            "method": "web_form", "proof": "formulaire 2026-0042",
        }),
    };
    match body {
        Value::Object(map) => map,
        _ => unreachable!("every valid body is an object"),
    }
}

impl Kind {
    fn method(self) -> Method {
        if self == Kind::NumberPatch { Method::PATCH } else { Method::POST }
    }

    fn path(self, fixture: &Fixture) -> String {
        match self {
            Kind::Call => "/v1/calls".into(),
            Kind::Outcome => format!("/v1/calls/{}/outcome", fixture.call_id),
            Kind::Report => "/v1/reports".into(),
            Kind::Number => "/v1/numbers".into(),
            Kind::Facility => "/v1/facilities".into(),
            Kind::NumberPatch => format!("/v1/numbers/{B2}"),
            Kind::Consent => "/v1/consents".into(),
        }
    }

    fn key(self, app: &TestApp) -> &str {
        match self {
            Kind::Call | Kind::Outcome => &app.keys.dialer,
            _ => &app.keys.ops,
        }
    }
}

// ----- the values -----

fn strings(list: &[&str]) -> Vec<Value> {
    list.iter().map(|s| json!(s)).collect()
}

/// JSON values of the wrong type for a field that holds a string.
fn not_strings() -> Vec<Value> {
    vec![json!(42), json!(-1), json!(1.5), json!(true), json!([]), json!({}), json!(["x"]), json!({"$ne": null})]
}

/// JSON values of the wrong type for a field that holds a number.
fn not_numbers() -> Vec<Value> {
    vec![json!("10"), json!(true), json!([]), json!({}), json!(1.5), json!("1e3")]
}

/// Values that `f` must refuse, named one by one.
fn bad_values(field: Field, now: Timestamp) -> Vec<Value> {
    let mut v = match field.f {
        F::Ref => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&["", " ", "pâtient-1", "pat ient", "pat\u{0}1", "pat\n1", "pat<script>"]));
            v.extend(strings(&["0612345678", "+33612345678", &"x".repeat(129)]));
            v
        }
        F::Facility | F::NewSlug => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&["", "Clinique", "clinique saint-jean", "-leading", "clinique-é", &"x".repeat(65)]));
            v.push(json!("clinique\u{0}"));
            if field.f == F::Facility {
                v.push(json!("clinique-inconnue"));
            }
            v
        }
        F::Purpose => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&["", "Appointment Reminder", "teleportation", "appointment_reminder ", "rappel_rdv"]));
            v
        }
        F::Phone | F::Inventory | F::Known => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&BAD_PHONES));
            match field.f {
                F::Inventory => v.extend(strings(&["+33612345678", "+33899123456", A1])),
                F::Known => v.push(json!("+33478999999")),
                _ => {}
            }
            v
        }
        F::DialAt | F::Past => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&IMPOSSIBLE_DATES));
            v.push(json!(1_781_000_000));
            v.push(json!("9999-12-31T23:59:59Z"));
            if field.f == F::DialAt {
                v.extend(strings(&["1970-01-01T00:00:00Z", "-009999-01-01T00:00:00Z"]));
                v.push(json!((now + hours(15 * 24)).to_string()));
                v.push(json!((now - mins(10)).to_string()));
            } else {
                v.push(json!((now + hours(1)).to_string()));
            }
            v
        }
        F::Name(max) | F::Note(max) => {
            let mut v = strings(&["", "   ", &"x".repeat(max + 1), &"é".repeat(max + 1), "a\u{0}b", "a\u{1b}[31mb"]);
            if matches!(field.f, F::Name(_)) {
                v.extend(strings(&["une\nligne", "tab\there"]));
            }
            v
        }
        F::Detail => strings(&[&"x".repeat(501), "a\u{0}b", "bell\u{7}"]),
        F::Outcome | F::Source | F::Action => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&["", "ANSWERED", "exploded", "answered ", "no answer", "Quarantine", "identité"]));
            v
        }
        F::Pool => {
            let mut v = strings(&INJECTIONS);
            v.extend(strings(&["", "a", "ABCDEFGHI", "Z", "A ", "Â"]));
            v
        }
        F::Seconds(max) => {
            let mut v = not_numbers();
            v.extend([json!(-1), json!(max + 1), json!(1_000_000_000_000_u64), json!(4_294_967_296_u64)]);
            v
        }
        F::Sip => {
            let mut v = not_numbers();
            v.extend([json!(99), json!(700), json!(0), json!(-1), json!(65_536)]);
            v
        }
        F::Flag => vec![json!("true"), json!(1), json!(0), json!("yes"), json!([]), json!({})],
    };
    if !matches!(field.f, F::Seconds(_) | F::Sip | F::Flag) {
        v.extend(not_strings());
    }
    if !field.optional || field.f == F::Detail {
        v.push(Value::Null);
    }
    v
}

/// Random values that `f` must refuse.
fn bad_strategy(field: Field) -> BoxedStrategy<Value> {
    let s = |pattern: &'static str| pattern.prop_map(Value::from).boxed();
    // Around one character no reference, slug or code allows.
    let around = |bad: &'static str| {
        ("[a-z0-9]{0,10}", bad, "[a-z0-9]{0,10}").prop_map(|(a, b, c)| Value::from(format!("{a}{b}{c}"))).boxed()
    };
    match field.f {
        F::Ref => around("[^A-Za-z0-9._:/-]"),
        F::Facility | F::NewSlug => around("[^a-z0-9_-]"),
        F::Pool => prop_oneof![s("[a-z]{1,8}"), s("[A-Z0-9]{9,20}"), around("[^A-Z0-9]")].boxed(),
        // Too few digits for any country, or no digit at all.
        F::Phone | F::Inventory | F::Known => prop_oneof![s("[+0-9 ().-]{0,6}"), s("[^\\p{N}]{1,40}")].boxed(),
        // A valid instant with one digit replaced by a letter.
        F::DialAt | F::Past => ("[a-df-su-wyA-DF-SU-WY]", 0..30usize)
            .prop_map(|(letter, at)| {
                let mut text = "2026-06-10T10:00:00+02:00".to_owned();
                let digits: Vec<usize> =
                    text.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
                let i = digits[at % digits.len()];
                text.replace_range(i..=i, &letter);
                Value::from(text)
            })
            .boxed(),
        F::Name(max) | F::Note(max) => {
            let long = max + 1;
            prop_oneof![
                ("\\PC{0,20}", "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]", "\\PC{0,20}")
                    .prop_map(|(a, c, b)| Value::from(format!("x{a}{c}{b}x"))),
                (0..64usize).prop_map(move |extra| Value::from("é".repeat(long + extra))),
                s("[ \\t\\n]{0,8}"),
            ]
            .boxed()
        }
        F::Detail => ("\\PC{0,20}", "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]")
            .prop_map(|(a, c)| Value::from(format!("{a}{c}")))
            .boxed(),
        F::Purpose => prop_oneof![s("[A-Z][a-z_]{0,20}"), s("zz_[a-z_]{1,15}")].boxed(),
        F::Outcome | F::Source | F::Action => prop_oneof![s("zz[a-z_]{0,12}"), s("[A-Z]{1,12}")].boxed(),
        F::Seconds(max) => prop_oneof![
            ((max + 1)..u64::MAX).prop_map(Value::from),
            (i64::MIN..0).prop_map(Value::from),
            any::<f64>().prop_filter("finite, not whole", |x| x.is_finite() && x.fract() != 0.0).prop_map(Value::from),
        ]
        .boxed(),
        F::Sip => prop_oneof![(0..100u64).prop_map(Value::from), (700..u64::MAX).prop_map(Value::from)].boxed(),
        F::Flag => prop_oneof![any::<i64>().prop_map(Value::from), s("\\PC{0,10}")].boxed(),
    }
}

/// Free text that a field may take or refuse, drawn for text fields: injection
/// strings, unicode, right-to-left marks, emoji, control characters, the longest
/// allowed.
fn hostile_text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        3 => proptest::sample::select(INJECTIONS.to_vec()).prop_map(str::to_owned),
        2 => "\\PC{1,40}",
        1 => "[\\x00-\\x1f\\x7f]{0,3}[a-zé🙂\u{202e}]{1,10}[\\x00-\\x1f]{0,3}",
        1 => Just("é".repeat(max.min(4_000))),
        1 => Just(" 🙂 Centre \u{202e}lacidém ".to_owned()),
    ]
    .boxed()
}

/// Whether a text field takes `text`: the rule the API states.
fn text_is_valid(f: F, text: &str) -> bool {
    let (max, empty_ok, breaks_ok) = match f {
        F::Name(max) => (max, false, false),
        F::Note(max) => (max, false, true),
        F::Detail => (500, true, true),
        _ => return false,
    };
    let kept = if f == F::Detail { text } else { text.trim() };
    (empty_ok || !kept.is_empty())
        && kept.chars().count() <= max
        && kept.chars().all(|c| !c.is_control() || (breaks_ok && matches!(c, '\t' | '\n' | '\r')))
}

// ----- the cases -----

/// What the answer must be.
#[derive(Debug, Clone)]
enum Expect {
    /// 404, 409 or 422, naming this field.
    Field(String),
    /// 400, 404, 409, 413 or 422.
    Refused,
    /// 413.
    TooLarge,
    /// Free text the API states it takes: 2xx, and the text stored as written
    /// (trimmed); or refused with the field named.
    Text { field: &'static str, text: String, valid: bool },
    /// Anything but a 5xx; if refused, nothing changed.
    NoFailure,
}

#[derive(Debug, Clone)]
struct Case {
    what: String,
    path: Option<String>,
    body: Vec<u8>,
    expect: Expect,
}

fn to_bytes(map: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(map).unwrap_or_default()
}

fn with(mut map: Map<String, Value>, name: &str, value: Value) -> Vec<u8> {
    map.insert(name.to_owned(), value);
    to_bytes(&map)
}

/// Every named bad value in every field, every field dropped and duplicated, and
/// whole bodies that are not the object asked for.
fn named_cases(kind: Kind, now: Timestamp) -> Vec<Case> {
    let mut cases = Vec::new();
    for (n, field) in kind.fields().iter().enumerate() {
        for (k, value) in bad_values(*field, now).into_iter().enumerate() {
            let body = with(valid(kind, n * 100 + k, now), field.name, value.clone());
            let what = format!("{}: {value}", field.name);
            cases.push(Case { what, path: None, body, expect: Expect::Field(field.name.into()) });
        }
        let max = match field.f {
            F::Name(max) | F::Note(max) => Some(max),
            F::Detail => Some(500),
            _ => None,
        };
        if let Some(max) = max {
            for (k, text) in INJECTIONS.iter().map(|s| (*s).to_owned()).chain(hostile_samples(max)).enumerate() {
                let body = with(valid(kind, n * 100 + 50 + k, now), field.name, json!(text));
                let valid = text_is_valid(field.f, &text);
                let what = format!("{} as free text: {text:?}", field.name);
                cases.push(Case { what, path: None, body, expect: Expect::Text { field: field.name, text, valid } });
            }
        }
        if field.f == F::Past {
            for date in EXTREME_DATES {
                let body = with(valid(kind, n * 100 + 90, now), field.name, json!(date));
                let what = format!("{} at an edge of time: {date}", field.name);
                cases.push(Case { what, path: None, body, expect: Expect::NoFailure });
            }
        }
        if !field.optional {
            let mut map = valid(kind, n * 100 + 95, now);
            map.remove(field.name);
            cases.push(Case {
                what: format!("{} missing", field.name),
                path: None,
                body: to_bytes(&map),
                expect: Expect::Field(field.name.into()),
            });
        }
        let map = valid(kind, n * 100 + 96, now);
        cases.push(Case {
            what: format!("{} twice", field.name),
            path: None,
            body: duplicated(&map, field.name),
            expect: Expect::Field(field.name.into()),
        });
    }
    for key in ["admin", "role", "__proto__", "$where", "'; DROP TABLE calls; --", "CALL_REF", "é", ""] {
        let body = with(valid(kind, 990, now), key, json!("x"));
        cases.push(Case {
            what: format!("unknown field {key:?}"),
            path: None,
            body,
            expect: Expect::Field(key.into()),
        });
    }
    let base = to_bytes(&valid(kind, 991, now));
    let values: Vec<Value> = valid(kind, 991, now).into_iter().map(|(_, v)| v).collect();
    let mut whole: Vec<(&str, Vec<u8>)> = vec![
        ("the fields as an array", serde_json::to_vec(&values).unwrap_or_default()),
        ("the fields as an array, in declaration order", positional(kind, 991, now)),
        ("the body inside an array", [b"[".as_slice(), base.as_slice(), b"]".as_slice()].concat()),
        ("an empty array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("a number", b"42".to_vec()),
        ("a string", b"\"call\"".to_vec()),
        ("true", b"true".to_vec()),
        ("an empty object", b"{}".to_vec()),
        ("nothing", Vec::new()),
        ("a byte order mark first", [b"\xef\xbb\xbf".as_slice(), base.as_slice()].concat()),
        ("invalid UTF-8 in a string", [&base[..base.len() - 1], b",\"x\":\"\xff\xfe\"}".as_slice()].concat()),
        ("a lone surrogate", [&base[..base.len() - 1], br#","x":"\ud800"}"#.as_slice()].concat()),
        ("a second object after it", [base.as_slice(), b"{}".as_slice()].concat()),
        ("garbage after it", [base.as_slice(), b" x".as_slice()].concat()),
        ("a NUL after it", [base.as_slice(), b"\0".as_slice()].concat()),
        ("a comment after it", [base.as_slice(), b" // ok".as_slice()].concat()),
        ("cut short", base[..base.len() / 2].to_vec()),
        ("single quotes", String::from_utf8_lossy(&base).replace('"', "'").into_bytes()),
        ("form-encoded", b"call_ref=x&facility=y".to_vec()),
    ];
    for depth in [129, 1_000, 30_000] {
        whole.push(("arrays nested deep", nested(depth, "[", "]")));
        whole.push(("objects nested deep", nested(depth, "{\"a\":", "}")));
    }
    let first = kind.fields()[0].name;
    let deep_in_field = with(valid(kind, 992, now), first, Value::Null);
    let text =
        String::from_utf8_lossy(&deep_in_field).replace("null", &String::from_utf8_lossy(&nested(20_000, "[", "]")));
    whole.push(("a field nested deep", text.into_bytes()));
    for (what, body) in whole {
        cases.push(Case { what: what.into(), path: None, body, expect: Expect::Refused });
    }
    for (size, expect) in [
        (BODY_LIMIT, Expect::Field("padding".into())),
        (BODY_LIMIT + 1, Expect::TooLarge),
        (4 * BODY_LIMIT, Expect::TooLarge),
    ] {
        cases.push(Case { what: format!("a body of {size} bytes"), path: None, body: padded(kind, size, now), expect });
    }
    match kind {
        Kind::Outcome => {
            for id in [
                "abc",
                "-1",
                "0",
                "99999999999999999999",
                "1%20OR%201=1",
                "%27%3B%20DROP%20TABLE%20calls%3B%20--",
                "1.5",
                "%00",
            ] {
                cases.push(Case {
                    what: format!("outcome of call {id}"),
                    path: Some(format!("/v1/calls/{id}/outcome")),
                    body: to_bytes(&valid(kind, 993, now)),
                    expect: Expect::Field("call_id".into()),
                });
            }
        }
        Kind::NumberPatch => {
            for number in [
                "hello",
                "+33",
                "%27%3B%20DROP%20TABLE%20numbers%3B%20--",
                "+33478999999",
                "0612",
                "+1-800-FLOWERS",
                "%2B33478100001%00",
            ] {
                cases.push(Case {
                    what: format!("PATCH of number {number}"),
                    path: Some(format!("/v1/numbers/{number}")),
                    body: to_bytes(&valid(kind, 994, now)),
                    expect: Expect::Field("number".into()),
                });
            }
        }
        _ => {}
    }
    cases
}

/// A few hostile texts for the named sweep (the property test draws many more).
fn hostile_samples(max: usize) -> Vec<String> {
    vec![
        "Centre 🙂 \u{202e}lacidém".into(),
        "ligne\nsuivante".into(),
        "tab\tulation".into(),
        "nul\u{0}octet".into(),
        "échap\u{1b}[2J".into(),
        "é".repeat(max.min(4_000)),
        "  espacé  ".into(),
    ]
}

/// The body's text with `name` given a second time.
fn duplicated(map: &Map<String, Value>, name: &str) -> Vec<u8> {
    let text = serde_json::to_string(map).unwrap_or_default();
    let key = json!(name);
    match map.get(name) {
        Some(value) => format!("{{{key}:{value},{}", &text[1..]).into_bytes(),
        // An optional field the body lacks: given twice, with a valid value.
        None => format!("{{{key}:false,{key}:false,{}", &text[1..]).into_bytes(),
    }
}

/// The valid body as an array of its values in the order the API declares them, which
/// serde would read as the struct.
fn positional(kind: Kind, i: usize, now: Timestamp) -> Vec<u8> {
    let map = valid(kind, i, now);
    let values: Vec<Value> = kind
        .fields()
        .iter()
        .map(|f| map.get(f.name).cloned().unwrap_or(if f.f == F::Flag { json!(false) } else { Value::Null }))
        .collect();
    serde_json::to_vec(&values).unwrap_or_default()
}

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut text = open.repeat(depth);
    if open.ends_with(':') {
        text.push('1');
    }
    text.push_str(&close.repeat(depth));
    text.into_bytes()
}

/// A valid body with an unknown `padding` field making it exactly `size` bytes.
fn padded(kind: Kind, size: usize, now: Timestamp) -> Vec<u8> {
    let bare = with(valid(kind, 995, now), "padding", json!(""));
    let fill = size.saturating_sub(bare.len());
    with(valid(kind, 995, now), "padding", json!("p".repeat(fill)))
}

/// One random case of `kind`: a mutation drawn by `runner`.
fn random_case(kind: Kind, i: usize, now: Timestamp, runner: &mut TestRunner) -> Case {
    let fields = kind.fields();
    let base = valid(kind, 10_000 + i, now);
    let field = fields[draw(runner, 0..fields.len())];
    let texts: Vec<Field> =
        fields.iter().copied().filter(|f| matches!(f.f, F::Name(_) | F::Note(_) | F::Detail)).collect();
    match draw(runner, 0..100u32) {
        0..=34 => {
            let value = draw(runner, bad_strategy(field));
            let what = format!("{}: {value}", field.name);
            Case { what, path: None, body: with(base, field.name, value), expect: Expect::Field(field.name.into()) }
        }
        35..=49 => {
            let list = bad_values(field, now);
            let value = list[draw(runner, 0..list.len())].clone();
            let what = format!("{}: {value}", field.name);
            Case { what, path: None, body: with(base, field.name, value), expect: Expect::Field(field.name.into()) }
        }
        50..=57 if !field.optional => {
            let mut map = base;
            map.remove(field.name);
            Case {
                what: format!("{} missing", field.name),
                path: None,
                body: to_bytes(&map),
                expect: Expect::Field(field.name.into()),
            }
        }
        58..=62 => Case {
            what: format!("{} twice", field.name),
            path: None,
            body: duplicated(&base, field.name),
            expect: Expect::Field(field.name.into()),
        },
        63..=67 => {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            let key =
                draw(runner, "[a-zA-Z_$'; -]{1,16}".prop_filter("unknown", move |k| !names.contains(&k.as_str())));
            let value = draw(runner, any::<i64>());
            Case {
                what: format!("unknown field {key:?}"),
                path: None,
                body: with(base, &key, json!(value)),
                expect: Expect::Field(key),
            }
        }
        68..=79 => {
            let bytes = to_bytes(&base);
            let (what, body) = match draw(runner, 0..6u32) {
                0 => {
                    let cut = draw(runner, 1..bytes.len());
                    ("cut short".to_owned(), bytes[..cut].to_vec())
                }
                1 => {
                    let junk = draw(runner, "[^ \\t\\r\\n]\\PC{0,10}");
                    (format!("followed by {junk:?}"), [bytes, junk.into_bytes()].concat())
                }
                2 => {
                    let depth = draw(runner, 1..20_000usize);
                    ("nested deep".to_owned(), nested(depth, "[", "]"))
                }
                3 => {
                    let values: Vec<Value> = base.into_iter().map(|(_, v)| v).collect();
                    ("the fields as an array".to_owned(), serde_json::to_vec(&values).unwrap_or_default())
                }
                4 => {
                    let noise = draw(runner, prop::collection::vec(any::<u8>(), 0..200));
                    ("random bytes".to_owned(), noise)
                }
                _ => {
                    let size = draw(runner, (BODY_LIMIT + 1)..(2 * BODY_LIMIT));
                    return Case {
                        what: format!("{size} bytes"),
                        path: None,
                        body: padded(kind, size, now),
                        expect: Expect::TooLarge,
                    };
                }
            };
            Case { what, path: None, body, expect: Expect::Refused }
        }
        80..=99 if !texts.is_empty() => {
            let target = texts[draw(runner, 0..texts.len())];
            let max = match target.f {
                F::Name(m) | F::Note(m) => m,
                _ => 500,
            };
            let text = draw(runner, hostile_text(max));
            let valid = text_is_valid(target.f, &text);
            let what = format!("{} as free text: {text:?}", target.name);
            let body = with(base, target.name, json!(text));
            Case { what, path: None, body, expect: Expect::Text { field: target.name, text, valid } }
        }
        _ => {
            // A wrong JSON type for the field.
            let wrong = if matches!(field.f, F::Seconds(_) | F::Sip | F::Flag) { not_numbers() } else { not_strings() };
            let value = wrong[draw(runner, 0..wrong.len())].clone();
            let what = format!("{}: {value}", field.name);
            let expect = if field.f == F::Flag && value.is_boolean() {
                Expect::NoFailure
            } else {
                Expect::Field(field.name.into())
            };
            Case { what, path: None, body: with(base, field.name, value), expect }
        }
    }
}

fn draw<S: Strategy>(runner: &mut TestRunner, strategy: S) -> S::Value {
    strategy.new_tree(runner).unwrap_or_else(|e| panic!("a value from the strategy: {e}")).current()
}

// ----- running a case -----

/// What a refused request must leave as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    counts: Vec<i64>,
    numbers: Vec<String>,
    facilities: Vec<String>,
}

/// Audit actions that a request of these routes writes when it is accepted. A refused
/// call is audited too (`call.refuse`: the decision is recorded), and reads are, so
/// those are not counted.
const COUNTS: &str = "SELECT \
     (SELECT COUNT(*) FROM calls), (SELECT COUNT(outcome) FROM calls), (SELECT COUNT(refused_at) FROM calls), \
     (SELECT COUNT(*) FROM numbers), (SELECT COUNT(*) FROM number_events), (SELECT COUNT(*) FROM facilities), \
     (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM consents), (SELECT COUNT(*) FROM oppositions), \
     (SELECT COUNT(*) FROM audit_log WHERE action IN ('call.allocate', 'call.outcome', 'call.solicitation_refused', \
        'call.reassign', 'call.unassign', 'report.receive', 'number.state', 'number.identity', 'facility.upsert', \
        'consent.record', 'consent.withdraw'))";

const COUNT_NAMES: [&str; 10] = [
    "calls",
    "outcomes",
    "refusals",
    "numbers",
    "number_events",
    "facilities",
    "reports",
    "consents",
    "oppositions",
    "audit entries of writes",
];

async fn snapshot(pool: &AnyPool) -> Snapshot {
    let row = sqlx::query(COUNTS).fetch_one(pool).await.expect("the tables are all there");
    let counts = (0..COUNT_NAMES.len()).map(|i| row.get::<i64, _>(i)).collect();
    let numbers = sqlx::query(
        "SELECT e164, pool, COALESCE(facility, ''), display_name, callback, status, status_reason, \
         COALESCE(directory_name, ''), COALESCE(cnam_registered_at, 0), COALESCE(directory_listed_at, 0), \
         man_authenticated FROM numbers ORDER BY e164",
    )
    .fetch_all(pool)
    .await
    .expect("numbers")
    .iter()
    .map(|r| {
        let mut s = String::new();
        for i in 0..8 {
            let _ = write!(s, "{}|", r.get::<String, _>(i));
        }
        for i in 8..11 {
            let _ = write!(s, "{}|", r.get::<i64, _>(i));
        }
        s
    })
    .collect();
    let facilities = sqlx::query("SELECT id, name, display_name, city, callback FROM facilities ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("facilities")
        .iter()
        .map(|r| (0..5).map(|i| r.get::<String, _>(i)).collect::<Vec<_>>().join("|"))
        .collect();
    Snapshot { counts, numbers, facilities }
}

fn differences(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = String::new();
    for (i, name) in COUNT_NAMES.iter().enumerate() {
        if before.counts[i] != after.counts[i] {
            let _ = write!(out, "{name}: {} -> {}; ", before.counts[i], after.counts[i]);
        }
    }
    if before.numbers != after.numbers {
        out.push_str("a number changed; ");
    }
    if before.facilities != after.facilities {
        out.push_str("a facility changed; ");
    }
    out
}

/// An answer, read whole.
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

/// Sends cases one after the other, checks each answer, and counts the database
/// before and after each.
struct Runner<'a> {
    app: &'a TestApp,
    pool: AnyPool,
    http: reqwest::Client,
    fixture: Fixture,
    before: Snapshot,
    sent: usize,
    accepted: usize,
}

impl<'a> Runner<'a> {
    async fn new(app: &'a TestApp) -> Runner<'a> {
        let pool = app.db.pool().await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let mut runner = Runner {
            app,
            before: snapshot(&pool).await,
            pool,
            http,
            fixture: Fixture { call_id: 0 },
            sent: 0,
            accepted: 0,
        };
        runner.fixture.call_id = runner.new_call().await;
        runner
    }

    /// A fresh call, for outcomes to be posted on.
    async fn new_call(&mut self) -> i64 {
        let call = CallReq::new(&format!("fixture-{}", self.sent), self.app.clock.now() + hours(1));
        let reply = self.app.post("/v1/calls", &self.app.keys.dialer, &call.json()).await;
        let id = reply.expect(201, "a fixture call")["call_id"].as_i64().expect("call_id");
        self.before = snapshot(&self.pool).await;
        id
    }

    async fn send(&self, method: Method, path: &str, key: &str, body: Vec<u8>) -> Result<Answer, reqwest::Error> {
        let res = self
            .http
            .request(method, format!("{}{path}", self.app.base))
            .bearer_auth(key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text })
    }

    async fn run(&mut self, kind: Kind, case: Case) {
        let app = self.app;
        self.run_as(kind, kind.method(), kind.key(app), case).await;
    }

    /// Sends `case` with this method and key; `kind` says what an accepted answer
    /// changes (an outcome takes a fresh call for the next case).
    async fn run_as(&mut self, kind: Kind, method: Method, key: &str, case: Case) {
        let path = case.path.clone().unwrap_or_else(|| kind.path(&self.fixture));
        let label = format!("{method} {path}: {} (body: {})", case.what, shown(&case.body));
        // A pooled keep-alive connection the server has just closed fails before any
        // answer; the request is sent once more on a new connection before that counts.
        let first = self.send(method.clone(), &path, key, case.body.clone()).await;
        let answer = match match first {
            Ok(a) => Ok(a),
            Err(_) => self.send(method, &path, key, case.body.clone()).await,
        } {
            Ok(a) => a,
            Err(e) => {
                let alive = self.app.api.try_send(Method::GET, "/livez", None, None).await.map(|r| r.status);
                panic!("{label}: transport error {e} (the server then answers /livez with {alive:?})");
            }
        };
        self.sent += 1;
        assert!(answer.status < 500, "{label}: a {} answer: {}", answer.status, answer.text);
        let accepted = (200..300).contains(&answer.status);
        if !accepted {
            assert!(
                answer.body["error"].as_str().is_some_and(|e| !e.is_empty())
                    && answer.body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{label}: a {} without the API's JSON error: {}",
                answer.status,
                answer.text
            );
        }
        let field = answer.body["field"].as_str();
        match &case.expect {
            Expect::Field(name) => {
                assert!(
                    [404, 409, 422].contains(&answer.status) && field == Some(name.as_str()),
                    "{label}: expected 404, 409 or 422 naming `{name}`, got {}: {}",
                    answer.status,
                    answer.text
                );
            }
            Expect::Refused => {
                assert!(
                    [400, 404, 409, 413, 422].contains(&answer.status),
                    "{label}: expected a refusal, got {}: {}",
                    answer.status,
                    answer.text
                );
            }
            Expect::TooLarge => {
                assert_eq!(answer.status, 413, "{label}: {}", answer.text);
                assert_eq!(answer.body["error"], "payload_too_large", "{label}: {}", answer.text);
            }
            Expect::Text { field: name, text, valid } => {
                if *valid {
                    assert!(accepted, "{label}: valid free text refused with {}: {}", answer.status, answer.text);
                    if let Some(stored) = answer.body[*name].as_str() {
                        assert_eq!(stored, text.trim(), "{label}: the text is stored as written");
                    }
                } else {
                    assert!(
                        answer.status == 422 && field == Some(*name),
                        "{label}: expected 422 naming `{name}`, got {}: {}",
                        answer.status,
                        answer.text
                    );
                }
            }
            Expect::NoFailure => {}
        }
        let after = snapshot(&self.pool).await;
        if accepted {
            self.accepted += 1;
            self.before = after;
            if kind == Kind::Outcome {
                self.fixture.call_id = self.new_call().await;
            }
        } else {
            assert!(
                after == self.before,
                "{label}: refused with {} but the database changed: {}",
                answer.status,
                differences(&self.before, &after)
            );
        }
    }

    /// The server still answers, and the audit chain is intact.
    async fn still_well(&self, what: &str) {
        let live = self.app.api.try_send(Method::GET, "/healthz", None, None).await;
        assert!(live.as_ref().is_ok_and(|r| r.status == 200), "{what}: /healthz after the cases: {live:?}");
        let report = self.app.store.verify_audit().await.expect("the audit chain reads");
        assert!(report.problem.is_none(), "{what}: the audit chain broke: {:?}", report.problem);
    }
}

/// The body for a failure message, shortened.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.chars().count() > 300 {
        let head: String = text.chars().take(300).collect();
        format!("{head:?}… ({} bytes)", body.len())
    } else {
        format!("{text:?}")
    }
}

// ----- the tests -----

pub(crate) async fn bad_input_named_values_get_a_clear_4xx_and_change_nothing(db: TestDb) {
    let app = spawn_app(&db).await;
    let mut runner = Runner::new(&app).await;
    let now = app.clock.now();
    for kind in KINDS {
        for case in named_cases(kind, now) {
            runner.run(kind, case).await;
        }
        runner.still_well(&format!("{kind:?}")).await;
    }
    // Paths and query strings of the other routes, read or write.
    let (dialer, ops, admin) = (&app.keys.dialer, &app.keys.ops, &app.keys.admin);
    let drop_calls = "%27%3B%20DROP%20TABLE%20calls%3B%20--";
    let paths: Vec<(Method, String, &str, &str, Value)> = vec![
        (Method::GET, "/v1/calls/abc".into(), dialer, "call_id", Value::Null),
        (Method::GET, "/v1/calls/1%20OR%201=1".into(), dialer, "call_id", Value::Null),
        (Method::GET, "/v1/calls/99999999999999999999".into(), dialer, "call_id", Value::Null),
        (Method::GET, format!("/v1/numbers/{drop_calls}"), ops, "number", Value::Null),
        (Method::GET, format!("/v1/consents?patient_ref={drop_calls}"), ops, "patient_ref", Value::Null),
        (Method::GET, "/v1/consents?patient_ref=0612345678".into(), ops, "patient_ref", Value::Null),
        (Method::GET, "/v1/consents".into(), ops, "patient_ref", Value::Null),
        (Method::GET, format!("/v1/patients/{drop_calls}/export"), admin, "patient_ref", Value::Null),
        (Method::DELETE, "/v1/patients/1%20OR%201=1".into(), admin, "patient_ref", Value::Null),
        (Method::DELETE, "/v1/patients/%2B33472000001".into(), admin, "patient_ref", Value::Null),
        (Method::POST, "/v1/consents/abc/withdraw".into(), ops, "consent_id", json!({"withdrawn_at": now.to_string()})),
        (
            Method::POST,
            "/v1/consents/1/withdraw".into(),
            ops,
            "withdrawn_at",
            json!({"withdrawn_at": "2026-02-30T10:00:00Z"}),
        ),
        (Method::POST, "/v1/consents/1/withdraw".into(), ops, "withdrawn_at", json!({"withdrawn_at": drop_calls})),
    ];
    for (method, path, key, field, body) in paths {
        let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap_or_default() };
        let case = Case {
            what: format!("{field} in the path or query"),
            path: Some(path),
            body,
            expect: Expect::Field(field.into()),
        };
        runner.run_as(Kind::Consent, method, key, case).await;
    }
    runner.still_well("paths").await;
    assert!(runner.sent > 1_000, "{} cases sent", runner.sent);
    eprintln!("bad input, named values: {} requests, {} accepted (valid free text)", runner.sent, runner.accepted);
}

pub(crate) async fn bad_input_mutated_json_bodies_get_a_clear_4xx_and_change_nothing(db: TestDb) {
    let app = spawn_app(&db).await;
    let mut runner = Runner::new(&app).await;
    let now = app.clock.now();
    for (k, kind) in KINDS.into_iter().enumerate() {
        // One fixed seed per kind: a failure replays.
        let mut seed = [0u8; 32];
        seed[0] = u8::try_from(k).unwrap_or(0);
        seed[1..9].copy_from_slice(b"vigie-bi");
        let config = Config { cases: CASES_PER_KIND, failure_persistence: None, ..Config::default() };
        let mut cases = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        for i in 0..CASES_PER_KIND as usize {
            let case = random_case(kind, i, now, &mut cases);
            runner.run(kind, case).await;
        }
        runner.still_well(&format!("{kind:?}")).await;
    }
    eprintln!(
        "bad input, property test: {} requests ({CASES_PER_KIND} per body kind), {} accepted (valid free text)",
        runner.sent, runner.accepted
    );
}

pub(crate) async fn bad_input_csv_with_injection_strings_imports_nothing(db: TestDb) {
    let rows = [
        "+33478100001,A,Clinique St-Jean,,+33478000000",
        "\"'; DROP TABLE numbers; --\",A,Clinique,,+33478000000",
        "+33478100002,\"1 OR 1=1\",Clinique,,+33478000000",
        "+33478100003,A,\"\"\" OR \"\"\"\"=\"\"\",,+33478000000",
        "+33478100004,A,Clinique,\"x'); DELETE FROM audit_log; --\",+33478000000",
        "+33478100005,A,Clinique,,\"+33478000000; DROP TABLE calls\"",
        "+1-800-FLOWERS,A,Clinique,,+33478000000",
    ];
    let path = db.dir.path().join("injections.csv");
    let text = format!("number,pool,display_name,facility,callback\n{}\n", rows.join("\n"));
    std::fs::write(&path, text).expect("write the CSV");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["numbers", "import"])
        .arg(&path)
        .args(db.cli_flags())
        .env_remove("VIGIE_DATABASE_URL")
        .env_remove("VIGIE_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("vigie runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an import with bad rows fails: {err}");
    for expected in ["line 3: number:", "line 4: pool:", "line 6: facility:", "line 7: callback:", "line 8: number:"] {
        assert!(err.contains(expected), "stderr names {expected:?}: {err}");
    }
    for good in ["line 2:", "line 5:"] {
        assert!(!err.contains(good), "a good row is not reported ({good}): {err}");
    }
    assert!(err.contains("nothing was imported"), "{err}");
    let pool = db.pool().await;
    let numbers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM numbers").fetch_one(&pool).await.expect("numbers");
    assert_eq!(numbers, 0, "nothing imported");
    let calls: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("calls is still there");
    assert_eq!(calls, 0);
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM number_events").fetch_one(&pool).await.expect("number_events");
    assert_eq!(events, 0, "no history written");
}
