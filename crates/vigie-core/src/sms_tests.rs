//! The pre-call SMS rules at their edges: GSM 03.38 tables and segment boundaries
//! (160/153, 70/67, escape and surrogate pairs), templates and their worst case, the
//! sender, the send time around quiet hours, holidays and DST (tables and properties),
//! the status machine and STOP replies.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;

fn paris() -> TimeZone {
    Territory::Metropolitan.time_zone()
}

/// An instant from a local date-time in `tz` (the earlier one in a fold).
fn local_in(tz: &TimeZone, text: &str) -> Timestamp {
    let dt: DateTime = text.parse().expect("local date-time");
    tz.to_ambiguous_timestamp(dt).compatible().expect("in range")
}

fn local(text: &str) -> Timestamp {
    local_in(&paris(), text)
}

fn show_in(tz: &TimeZone, t: Timestamp) -> String {
    t.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%dT%H:%M%:z").to_string()
}

fn e164(text: &str) -> E164 {
    E164::parse(text).expect("number")
}

// ---------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------

/// The GSM 03.38 default alphabet by position, as printed in the standard (0x1B is
/// the escape).
const GSM_TABLE: [&str; 8] = [
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
];

#[test]
fn every_basic_character_has_its_position() {
    for (row, chars) in GSM_TABLE.iter().enumerate() {
        let chars: Vec<char> = chars.chars().collect();
        assert_eq!(chars.len(), 16, "row {row}");
        for (col, c) in chars.into_iter().enumerate() {
            let code = (row * 16 + col) as u8;
            if code == GSM_ESCAPE {
                continue;
            }
            assert_eq!(gsm_basic(c), Some(code), "{c:?}");
            assert_eq!(encode_sms(&c.to_string()).bytes(), [code], "{c:?}");
        }
    }
}

#[test]
fn decoding_reverses_encoding() {
    // Every basic position and every extension character come back as they went.
    for code in 0..128_u8 {
        if code == GSM_ESCAPE {
            continue;
        }
        let text = decode_sms(0, &[code]).expect("septet");
        assert_eq!(encode_sms(&text).bytes(), [code], "{code:#04x}");
    }
    let every = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\u{0C}^{}\\[~]|€";
    assert_eq!(decode_sms(0, encode_sms(every).bytes()).as_deref(), Some(every));
    for text in ["Arrêt", "l’hôpital 😀", "STOP"] {
        let encoded = encode_sms(text);
        let coding = encoded.length().encoding.data_coding();
        assert_eq!(decode_sms(coding, encoded.bytes()).as_deref(), Some(text));
    }
    let cases: [(u8, &[u8], Option<&str>); 9] = [
        (1, b"STOP", Some("STOP")),
        (3, &[0x41, 0x72, 0x72, 0xEA, 0x74], Some("Arrêt")),
        (0, &[0x1B, 0x41], Some("A")),
        (0, &[0x41, 0x1B], Some("A")),
        (0, &[0x80], None),
        (1, &[0xEA], None),
        (8, &[0x00], None),
        (8, &[0xD8, 0x3D], None),
        (4, b"STOP", None),
    ];
    for (coding, bytes, expected) in cases {
        assert_eq!(decode_sms(coding, bytes).as_deref(), expected, "{coding} {bytes:?}");
    }
}

#[test]
fn extension_characters_take_an_escape_pair() {
    let cases = [('\u{0C}', 0x0A), ('^', 0x14), ('{', 0x28), ('}', 0x29), ('\\', 0x2F), ('[', 0x3C), ('~', 0x3D)];
    let more = [(']', 0x3E), ('|', 0x40), ('€', 0x65)];
    for (c, code) in cases.into_iter().chain(more) {
        let text = c.to_string();
        assert_eq!(encode_sms(&text).bytes(), [0x1B, code], "{c:?}");
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Gsm7, segments: 1, units: 2 }, "{c:?}");
    }
}

#[test]
fn encoding_is_chosen_per_message() {
    let cases = [
        ("Clinique St-Jean, 12/03 à 14h30 : répondez.", SmsEncoding::Gsm7, 43),
        ("Prix : 5€ [promo]", SmsEncoding::Gsm7, 20),
        ("Hôpital Nord", SmsEncoding::Ucs2, 12),
        ("l’hôpital", SmsEncoding::Ucs2, 9),
        ("ça", SmsEncoding::Ucs2, 2),
        ("Ça", SmsEncoding::Gsm7, 2),
        ("Arrêt", SmsEncoding::Ucs2, 5),
        ("Rendez-vous 😀", SmsEncoding::Ucs2, 14),
        ("", SmsEncoding::Gsm7, 0),
    ];
    for (text, encoding, units) in cases {
        let length = sms_length(text);
        assert_eq!((length.encoding, length.units, length.segments), (encoding, units, 1), "{text}");
        assert_eq!(encoding.data_coding(), if encoding == SmsEncoding::Gsm7 { 0 } else { 8 });
    }
}

#[test]
fn ucs2_is_utf16_big_endian() {
    assert_eq!(encode_sms("ê").bytes(), [0x00, 0xEA]);
    assert_eq!(encode_sms("Aô").bytes(), [0x00, 0x41, 0x00, 0xF4]);
    // U+1F600 is the surrogate pair D83D DE00.
    assert_eq!(encode_sms("😀").bytes(), [0xD8, 0x3D, 0xDE, 0x00]);
    assert_eq!(encode_sms("Hôpital").length().encoding.data_coding(), 8);
}

fn segments_of(text: &str) -> (u32, Vec<usize>) {
    let encoded = encode_sms(text);
    let length = sms_length(text);
    assert_eq!(encoded.length(), length, "encode and measure agree");
    let sizes: Vec<usize> = encoded.segments().map(<[u8]>::len).collect();
    assert_eq!(sizes.len() as u32, length.segments);
    assert_eq!(sizes.iter().sum::<usize>(), encoded.bytes().len());
    (length.segments, sizes)
}

#[test]
fn segment_counts_at_the_boundaries() {
    let a = |n: usize| "a".repeat(n);
    let e = |n: usize| "ê".repeat(n);
    let cases: Vec<(String, u32, Vec<usize>)> = vec![
        // GSM: 160 alone, then 153 per segment.
        (a(160), 1, vec![160]),
        (a(161), 2, vec![153, 8]),
        (a(306), 2, vec![153, 153]),
        (a(307), 3, vec![153, 153, 1]),
        (a(459), 3, vec![153, 153, 153]),
        // 158 + an escape pair = 160 septets: still one SMS.
        (a(158) + "€", 1, vec![160]),
        (a(159) + "€", 2, vec![153, 8]),
        // The pair would straddle septets 153 and 154: the first segment ends before it.
        (a(152) + "€" + &a(10), 2, vec![152, 12]),
        // 306 septets, yet 3 segments because the pair cannot be split.
        (a(152) + "€" + &a(152), 3, vec![152, 153, 1]),
        // UCS-2: 70 alone, then 67 per segment (2 bytes a unit).
        (e(70), 1, vec![140]),
        (e(71), 2, vec![134, 8]),
        (e(134), 2, vec![134, 134]),
        (e(135), 3, vec![134, 134, 2]),
        // A surrogate pair is never split across segments.
        (e(66) + "😀" + &e(10), 2, vec![132, 24]),
        (e(68) + "😀", 1, vec![140]),
    ];
    for (text, segments, sizes) in cases {
        assert_eq!(segments_of(&text), (segments, sizes), "{} units", sms_length(&text).units);
    }
    // The bytes of the split pair go together into the second segment.
    let encoded = encode_sms(&(a(152) + "€" + &a(10)));
    let second: Vec<&[u8]> = encoded.segments().collect();
    assert_eq!(&second[1][..2], [0x1B, 0x65]);
}

// ---------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------

#[test]
fn templates_are_refused_with_their_name_and_reason() {
    let cases = [
        ("", 3, "template t: the text is empty"),
        (
            "Bonjour {patient}",
            3,
            "template t: unknown placeholder {patient}: use {facility}, {date}, {time}, {callback} or {caller}",
        ),
        (
            "Bonjour {Facility}",
            3,
            "template t: unknown placeholder {Facility}: use {facility}, {date}, {time}, {callback} or {caller}",
        ),
        ("Bonjour {facility", 3, "template t: unbalanced brace at character 9: placeholders are written {name}"),
        ("Bonjour facility}", 3, "template t: unbalanced brace at character 17: placeholders are written {name}"),
        ("{{facility}}", 3, "template t: unbalanced brace at character 2: placeholders are written {name}"),
        ("a\tb", 3, "template t: control character at character 2: only line breaks are allowed"),
        ("ok", 0, "template t: max_segments must be between 1 and 10, not 0"),
        ("ok", 11, "template t: max_segments must be between 1 and 10, not 11"),
    ];
    for (text, max, expected) in cases {
        let err = Template::parse("t", text, max).expect_err(text);
        assert_eq!(err.to_string(), expected, "{text}");
    }
    // Line breaks are GSM characters; a 64-character name outside GSM makes 80 UCS-2
    // units, 2 segments.
    let lines = Template::parse("ok", "Ligne 1\nLigne 2 {facility}", 2).expect("two lines");
    assert_eq!(lines.worst_case(), SmsLength { encoding: SmsEncoding::Ucs2, segments: 2, units: 80 });
}

#[test]
fn templates_are_checked_against_the_longest_values() {
    let x = |n: usize| "x".repeat(n);
    // A 64-character facility name outside GSM makes the SMS UCS-2: 64 + 137 = 201
    // units is 3 segments of 67, 202 is 4.
    let fits = format!("{{facility}}{}", x(137));
    let worst = Template::parse("fits", &fits, 3).expect("201 units").worst_case();
    assert_eq!(worst, SmsLength { encoding: SmsEncoding::Ucs2, segments: 3, units: 201 });
    let err = Template::parse("reminder_fr", &format!("{{facility}}{}", x(138)), 3).expect_err("202 units");
    assert_eq!(
        err.to_string(),
        "template reminder_fr: takes 4 segments (202 ucs2 units) once filled with the longest values, more than max_segments 3"
    );
    assert_eq!(
        err.problem,
        TemplateProblem::TooLong { segments: 4, units: 202, encoding: SmsEncoding::Ucs2, max_segments: 3 }
    );
    // Without {facility} everything stays GSM: 16-character numbers, 10 for the date,
    // 5 for the time.
    let numbers = format!("{{caller}}{{callback}}{{date}}{{time}}{}", x(160 - 47));
    assert_eq!(
        Template::parse("n", &numbers, 1).expect("160 septets").worst_case(),
        SmsLength { encoding: SmsEncoding::Gsm7, segments: 1, units: 160 }
    );
    assert!(Template::parse("n", &format!("{numbers}x"), 1).is_err());
    // A text already in UCS-2: 70 units alone.
    let ucs2 = format!("{{time}}{}", "ê".repeat(65));
    assert_eq!(Template::parse("u", &ucs2, 1).expect("70 units").worst_case().units, 70);
    assert!(Template::parse("u", &format!("{ucs2}ê"), 1).is_err());
}

#[test]
fn default_texts_fit_and_carry_no_medical_content() {
    let medical = ["résultat", "result", "diagnostic", "diagnosis", "analyse", "examen", "cancer", "test"];
    for purpose in ANNOUNCED_PURPOSES {
        for &language in Language::ALL {
            let text = default_template_text(purpose, language).expect("announced purposes have texts");
            let template = Template::parse(&format!("{purpose}.{language}"), text, DEFAULT_MAX_SEGMENTS)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(is_gsm7(text), "{purpose}.{language} is GSM 03.38");
            assert!(template.worst_case().segments <= DEFAULT_MAX_SEGMENTS);
            assert!(template.placeholders().any(|p| p == Placeholder::Facility));
            let lower = text.to_lowercase();
            assert!(medical.iter().all(|m| !lower.contains(m)), "{purpose}.{language}: {text}");
        }
    }
    assert_eq!(default_template_text("coordination", Language::Fr), None);
}

#[test]
fn rendering_in_paris_the_french_way() {
    let template = Template::parse(
        "appointment_reminder.fr",
        default_template_text("appointment_reminder", Language::Fr).expect("text"),
        DEFAULT_MAX_SEGMENTS,
    )
    .expect("template");
    let caller = e164("+33478200001");
    let callback = e164("+33478000000");
    let fields = SmsFields {
        facility: "Clinique St-Jean",
        dial_at: local("2026-03-12T14:30"),
        callback: &callback,
        caller: &caller,
    };
    let sms = template.render(&fields, &paris()).expect("render");
    assert_eq!(
        sms.text,
        "Clinique St-Jean vous appellera le 12/03/2026 vers 14h30 depuis le 04 78 20 00 01 au sujet de votre rendez-vous. Sans réponse, nous vous rappellerons."
    );
    assert_eq!(sms.length, SmsLength { encoding: SmsEncoding::Gsm7, segments: 1, units: 150 });

    // A name outside GSM 03.38 turns the SMS into UCS-2: 3 segments.
    let hopital = SmsFields { facility: "Hôpital Nord", ..fields };
    let sms = template.render(&hopital, &paris()).expect("render");
    assert_eq!((sms.length.encoding, sms.length.segments), (SmsEncoding::Ucs2, 3));

    // Across the spring change: 01:30 UTC on 29 March 2026 is 03:30 in Paris.
    let t = Template::parse("t", "{date} {time} {callback}", 1).expect("template");
    let dst = SmsFields { dial_at: "2026-03-29T01:30:00Z".parse().expect("ts"), ..fields };
    assert_eq!(t.render(&dst, &paris()).expect("render").text, "29/03/2026 03h30 04 78 00 00 00");
    // 23:30 UTC on 31 December 2026 is already 2027 in Paris; 00h30.
    let new_year = SmsFields { dial_at: "2026-12-31T23:30:00Z".parse().expect("ts"), ..fields };
    assert_eq!(t.render(&new_year, &paris()).expect("render").text, "01/01/2027 00h30 04 78 00 00 00");
    // A foreign callback is written in E.164.
    let foreign = e164("+3222222222");
    let abroad = SmsFields { callback: &foreign, ..fields };
    assert!(t.render(&abroad, &paris()).expect("render").text.ends_with("+3222222222"));
}

#[test]
fn rendering_refuses_bad_names_and_overlong_texts() {
    let caller = e164("+33478200001");
    let t = Template::parse("t", "{facility} x", 1).expect("template");
    let fields =
        |facility| SmsFields { facility, dial_at: local("2026-03-12T14:30"), callback: &caller, caller: &caller };
    for bad in ["", "   ", "a\nb"] {
        let err = t.render(&fields(bad), &paris()).expect_err(bad);
        assert_eq!(err.problem, TemplateProblem::FacilityName, "{bad:?}");
    }
    let long = "x".repeat(FACILITY_CHARS_MAX + 1);
    assert_eq!(t.render(&fields(&long), &paris()).map_err(|e| e.problem), Err(TemplateProblem::FacilityName));
    // 64 emoji are 128 UTF-16 units: beyond the plausible worst case, refused when
    // rendering rather than sent over its segments.
    let emoji = "😀".repeat(FACILITY_CHARS_MAX);
    let err = t.render(&fields(&emoji), &paris()).expect_err("too long");
    assert!(matches!(err.problem, TemplateProblem::TooLong { segments: 2, .. }), "{err}");
    assert_eq!(err.template, "t");
}

// ---------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------

#[test]
fn sender_ids() {
    for ok in ["CliniqueSJ", "CHU2", "abc", "Clinique12A"] {
        assert_eq!(SenderId::parse(ok).map(|s| s.to_string()), Ok(ok.to_owned()), "{ok}");
    }
    let cases = [
        ("AB", "sender_id: must be 3 to 11 characters"),
        ("ABCDEFGHIJKL", "sender_id: must be 3 to 11 characters"),
        ("12345", "sender_id: must hold at least one letter"),
        (
            "Clinique SJ",
            "sender_id: must hold only letters A-Z, a-z and digits: French operators refuse spaces, accents and punctuation",
        ),
        (
            "Clinique-SJ",
            "sender_id: must hold only letters A-Z, a-z and digits: French operators refuse spaces, accents and punctuation",
        ),
        (
            "Hôpital",
            "sender_id: must hold only letters A-Z, a-z and digits: French operators refuse spaces, accents and punctuation",
        ),
        ("rdv", "sender_id: `rdv` is a generic word that French operators block: use the facility's name"),
        ("INFO", "sender_id: `INFO` is a generic word that French operators block: use the facility's name"),
    ];
    for (text, expected) in cases {
        assert_eq!(SenderId::parse(text).map_err(|e| e.to_string()), Err(expected.to_owned()), "{text}");
    }
    let caller = e164("+33478200001");
    let id = SenderId::parse("CliniqueSJ").expect("id");
    assert_eq!(SenderChoice::Alphanumeric(id.clone()).resolve(&caller), Ok(SmsSender::Alphanumeric(id)));
    assert_eq!(SenderChoice::CallerNumber.resolve(&caller), Ok(SmsSender::Number(caller)));
    assert!(SenderChoice::CallerNumber.resolve(&e164("+33612345678")).is_err());
    assert!(SenderChoice::CallerNumber.resolve(&e164("+33899123456")).is_err());
}

// ---------------------------------------------------------------------------------
// When the SMS goes
// ---------------------------------------------------------------------------------

fn timing(policy: QuietPolicy) -> SmsTiming {
    SmsTiming { policy, ..SmsTiming::default() }
}

fn latest(hours: i64) -> QuietPolicy {
    QuietPolicy::LatestBefore { lead_max: SignedDuration::from_hours(hours) }
}

fn show_plan(plan: SmsPlan, tz: &TimeZone) -> String {
    match plan {
        SmsPlan::SendAt(t) => format!("send {}", show_in(tz, t)),
        SmsPlan::DialNotBefore(t) => format!("dial from {}", show_in(tz, t)),
        SmsPlan::CannotAnnounce(u) => {
            format!("cannot ({}), dial from {}", u.reason, u.earliest_dial_at.map_or("-".into(), |t| show_in(tz, t)))
        }
    }
}

#[test]
fn send_times_at_the_edges() {
    let sundays =
        SmsTiming { quiet: SmsQuietHours { sundays_allowed: true, ..SmsQuietHours::default() }, ..timing(latest(18)) };
    let holidays =
        SmsTiming { quiet: SmsQuietHours { holidays_allowed: true, ..SmsQuietHours::default() }, ..timing(latest(18)) };
    let night = |range: &str| SmsTiming {
        quiet: SmsQuietHours {
            allowed: TimeRange::parse(range).expect("range"),
            sundays_allowed: true,
            holidays_allowed: false,
        },
        ..timing(latest(18))
    };
    let cases: Vec<(&str, SmsTiming, &str, &str, &str)> = vec![
        // (what, timing, dial_at, now, expected); 2026-03-10 is a Tuesday.
        (
            "inside the window",
            timing(latest(18)),
            "2026-03-10T14:30",
            "2026-03-10T10:00",
            "send Tue 2026-03-10T14:00+01:00",
        ),
        (
            "planned late: now",
            timing(latest(18)),
            "2026-03-10T14:30",
            "2026-03-10T14:05",
            "send Tue 2026-03-10T14:05+01:00",
        ),
        (
            "planned at the window's end",
            timing(latest(18)),
            "2026-03-10T14:30",
            "2026-03-10T14:15",
            "send Tue 2026-03-10T14:15+01:00",
        ),
        (
            "too soon",
            timing(latest(18)),
            "2026-03-10T14:30",
            "2026-03-10T14:20",
            "cannot (too_soon), dial from Tue 2026-03-10T14:35+01:00",
        ),
        (
            "too soon, delayed",
            timing(QuietPolicy::DelayCall),
            "2026-03-10T14:30",
            "2026-03-10T14:20",
            "dial from Tue 2026-03-10T14:35+01:00",
        ),
        // Morning: quiet until 08:00.
        (
            "window opens at 08:00",
            timing(latest(18)),
            "2026-03-10T08:20",
            "2026-03-09T12:00",
            "send Tue 2026-03-10T08:00+01:00",
        ),
        (
            "window ends at 08:00",
            timing(latest(18)),
            "2026-03-10T08:15",
            "2026-03-09T12:00",
            "send Tue 2026-03-10T08:00+01:00",
        ),
        (
            "window ends at 07:59",
            timing(latest(18)),
            "2026-03-10T08:14",
            "2026-03-09T12:00",
            "send Mon 2026-03-09T19:59+01:00",
        ),
        (
            "window ends at 07:59, delayed",
            timing(QuietPolicy::DelayCall),
            "2026-03-10T08:14",
            "2026-03-09T12:00",
            "dial from Tue 2026-03-10T08:15+01:00",
        ),
        (
            "evening before, planned in the night",
            timing(latest(18)),
            "2026-03-10T08:14",
            "2026-03-09T21:00",
            "cannot (quiet_hours), dial from Tue 2026-03-10T08:15+01:00",
        ),
        // Evening: quiet from 20:00.
        (
            "window starts at 19:59",
            timing(latest(18)),
            "2026-03-10T20:29",
            "2026-03-10T12:00",
            "send Tue 2026-03-10T19:59+01:00",
        ),
        (
            "window starts at 20:00",
            timing(latest(18)),
            "2026-03-10T20:30",
            "2026-03-10T12:00",
            "send Tue 2026-03-10T19:59+01:00",
        ),
        (
            "window starts at 20:00, delayed",
            timing(QuietPolicy::DelayCall),
            "2026-03-10T20:30",
            "2026-03-10T12:00",
            "dial from Wed 2026-03-11T08:15+01:00",
        ),
        // Sundays: a Monday 08:10 call would need Saturday 19:59, 36 hours ahead.
        (
            "monday morning",
            timing(latest(18)),
            "2026-03-16T08:10",
            "2026-03-13T12:00",
            "cannot (quiet_hours), dial from Mon 2026-03-16T08:15+01:00",
        ),
        (
            "monday morning, 48 h lead",
            timing(latest(48)),
            "2026-03-16T08:10",
            "2026-03-13T12:00",
            "send Sat 2026-03-14T19:59+01:00",
        ),
        (
            "monday morning, sundays allowed",
            sundays.clone(),
            "2026-03-16T08:10",
            "2026-03-13T12:00",
            "send Sun 2026-03-15T19:59+01:00",
        ),
        (
            "sunday call",
            timing(QuietPolicy::DelayCall),
            "2026-03-15T10:00",
            "2026-03-13T12:00",
            "dial from Mon 2026-03-16T08:15+01:00",
        ),
        // Ascension, Thursday 14 May 2026.
        ("holiday", timing(latest(18)), "2026-05-14T10:00", "2026-05-12T12:00", "send Wed 2026-05-13T19:59+02:00"),
        ("holiday allowed", holidays, "2026-05-14T10:00", "2026-05-12T12:00", "send Thu 2026-05-14T09:30+02:00"),
        (
            "day after the holiday",
            timing(latest(18)),
            "2026-05-15T08:05",
            "2026-05-12T12:00",
            "cannot (quiet_hours), dial from Fri 2026-05-15T08:15+02:00",
        ),
        (
            "holiday, delayed",
            timing(QuietPolicy::DelayCall),
            "2026-05-14T10:00",
            "2026-05-12T12:00",
            "dial from Fri 2026-05-15T08:15+02:00",
        ),
        // Spring change, Sunday 29 March 2026 (02:00 CET -> 03:00 CEST).
        (
            "after the spring change",
            sundays.clone(),
            "2026-03-29T08:10",
            "2026-03-27T12:00",
            "send Sat 2026-03-28T19:59+01:00",
        ),
        (
            "spring, delayed",
            SmsTiming { policy: QuietPolicy::DelayCall, ..sundays.clone() },
            "2026-03-29T08:10",
            "2026-03-27T12:00",
            "dial from Sun 2026-03-29T08:15+02:00",
        ),
        // Allowed 01:00-02:30: on the spring day the stretch ends at the jump.
        (
            "range cut by the spring jump",
            night("01:00-02:30"),
            "2026-03-29T04:00",
            "2026-03-28T12:00",
            "send Sun 2026-03-29T01:59+01:00",
        ),
        // Autumn change, Sunday 25 October 2026 (03:00 CEST -> 02:00 CET): 02:30 twice.
        (
            "range end repeated by the fold",
            night("01:00-02:30"),
            "2026-10-25T03:30",
            "2026-10-24T12:00",
            "send Sun 2026-10-25T02:29+01:00",
        ),
        ("after the autumn change", sundays, "2026-10-25T08:20", "2026-10-24T12:00", "send Sun 2026-10-25T08:00+01:00"),
    ];
    let tz = paris();
    for (what, timing, dial_at, now, expected) in cases {
        timing.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
        let plan = plan_sms(local(dial_at), local(now), Territory::Metropolitan, &timing);
        assert_eq!(show_plan(plan, &tz), expected, "{what}");
    }
}

#[test]
fn overseas_patients_get_their_hours_and_holidays() {
    // 22 May is Martinique's abolition day (a Friday in 2026); hours are read in
    // America/Martinique.
    let tz = Territory::Martinique.time_zone();
    let plan = |dial: &str| {
        plan_sms(local_in(&tz, dial), local_in(&tz, "2026-05-20T12:00"), Territory::Martinique, &timing(latest(18)))
    };
    assert_eq!(show_plan(plan("2026-05-22T10:00"), &tz), "send Thu 2026-05-21T19:59-04:00");
    assert_eq!(show_plan(plan("2026-05-21T08:20"), &tz), "send Thu 2026-05-21T08:00-04:00");
    // The same instant for a patient in Paris is 14:00-14:30: inside the window.
    let paris_plan = plan_sms(
        local_in(&tz, "2026-05-22T08:30"),
        local("2026-05-20T12:00"),
        Territory::Metropolitan,
        &timing(latest(18)),
    );
    assert_eq!(show_plan(paris_plan, &paris()), "send Fri 2026-05-22T14:00+02:00");
}

#[test]
fn timing_is_validated() {
    assert_eq!(
        SmsWindow::new(30, 15).map(|w| (w.lead_max(), w.lead_min())),
        Ok((SignedDuration::from_mins(30), SignedDuration::from_mins(15)))
    );
    assert_eq!(
        SmsWindow::new(30, 0).map_err(|e| e.to_string()),
        Err("lead_min_minutes: must be at least 1".to_owned())
    );
    assert_eq!(
        SmsWindow::new(10, 15).map_err(|e| e.to_string()),
        Err("lead_max_minutes: must be between lead_min_minutes and 10080".to_owned())
    );
    assert!(SmsWindow::new(10_081, 15).is_err());
    let short = timing(QuietPolicy::LatestBefore { lead_max: SignedDuration::from_mins(20) });
    assert_eq!(
        short.validate().map_err(|e| e.field),
        Err("quiet_lead_max_minutes"),
        "a policy lead shorter than the window"
    );
    let no_search = SmsTiming { search_days: 0, ..SmsTiming::default() };
    assert_eq!(no_search.validate().map_err(|e| e.field), Err("search_days"));
    assert_eq!(SmsTiming::default().validate(), Ok(()));
}

/// Whether an SMS may go at `t`, computed here from the definitions (weekday, holiday,
/// local time), not through `WeeklyHours`.
fn allowed(t: Timestamp, timing: &SmsTiming, territory: Territory) -> bool {
    let local = territory.time_zone().to_datetime(t);
    let sunday = local.weekday() == jiff::civil::Weekday::Sunday;
    let holiday = timing.holidays.holiday(local.date(), territory).is_some();
    (!sunday || timing.quiet.sundays_allowed)
        && (!holiday || timing.quiet.holidays_allowed)
        && timing.quiet.allowed.contains(local.time())
}

/// Whether some minute of `[from, to]` (from `from` on, minute by minute) is allowed.
fn any_allowed(from: Timestamp, to: Timestamp, timing: &SmsTiming, territory: Territory) -> bool {
    let mut t = from;
    while t <= to {
        if allowed(t, timing, territory) {
            return true;
        }
        t += SignedDuration::from_mins(1);
    }
    false
}

/// Minutes of 2026 from its first instant in UTC: the whole year, and the days
/// around both Europe/Paris changes more densely.
fn minute_of_2026() -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::prelude::*;
    let around = |day_of_year: i64| (day_of_year - 3) * 1440..(day_of_year + 3) * 1440;
    prop_oneof![0..365 * 1440_i64, around(87), around(297)]
}

fn timing_strategy() -> impl proptest::strategy::Strategy<Value = SmsTiming> {
    use proptest::prelude::*;
    let policy = prop_oneof![
        (1_i64..=72).prop_map(|h| QuietPolicy::LatestBefore { lead_max: SignedDuration::from_hours(h) }),
        Just(QuietPolicy::DelayCall),
    ];
    let range = prop_oneof![
        Just((8 * 60, 20 * 60)),
        Just((0, 24 * 60)),
        Just((60, 150)),
        Just((2 * 60 + 15, 3 * 60 + 30)),
        (0_u16..1439).prop_flat_map(|s| (Just(s), s + 1..=1440)),
    ];
    let window = (1_u32..=60).prop_flat_map(|min| (min..=180).prop_map(move |max| (max, min)));
    (policy, range, window, any::<bool>(), any::<bool>()).prop_map(|(policy, (s, e), (max, min), sundays, holidays)| {
        let window = SmsWindow::new(max, min).expect("window");
        // A policy lead shorter than the window is refused by validate: lengthen it.
        let policy = match policy {
            QuietPolicy::LatestBefore { lead_max } => {
                QuietPolicy::LatestBefore { lead_max: lead_max.max(window.lead_max()) }
            }
            p => p,
        };
        let allowed = TimeRange::new(s, e).expect("range");
        SmsTiming {
            window,
            quiet: SmsQuietHours { allowed, sundays_allowed: sundays, holidays_allowed: holidays },
            policy,
            ..SmsTiming::default()
        }
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// A send instant is allowed, not in the past, before the call by at least
    /// `lead_min` and within the policy's lead; it is in the window, and the first
    /// allowed instant of it, whenever the window holds an allowed minute. A delayed
    /// call is announced in its own window; an unannounceable call really has no
    /// allowed minute where the policy looks.
    #[test]
    fn send_instants_respect_quiet_hours_and_the_window(
        minute in minute_of_2026(),
        ahead in proptest::prop_oneof![0_i64..120, 0_i64..4 * 1440],
        timing in timing_strategy(),
        territory in proptest::prop_oneof![proptest::strategy::Just(Territory::Metropolitan), proptest::strategy::Just(Territory::Reunion)],
    ) {
        let year: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let now = year + SignedDuration::from_mins(minute);
        let dial_at = now + SignedDuration::from_mins(ahead);
        let (lead_max, lead_min) = (timing.window.lead_max(), timing.window.lead_min());
        let window_start = (dial_at - lead_max).max(now);
        let window_end = dial_at - lead_min;
        let window_open = any_allowed(window_start, window_end, &timing, territory);
        match plan_sms(dial_at, now, territory, &timing) {
            SmsPlan::SendAt(at) => {
                proptest::prop_assert!(allowed(at, &timing, territory), "{at} is in quiet hours");
                proptest::prop_assert!(at >= now && at <= window_end && at < dial_at);
                match timing.policy {
                    QuietPolicy::LatestBefore { lead_max: far } => proptest::prop_assert!(at >= dial_at - far),
                    QuietPolicy::DelayCall => proptest::prop_assert!(at >= dial_at - lead_max),
                }
                if window_open {
                    proptest::prop_assert!(at >= window_start, "{at} is before the window that opens at {window_start}");
                    // The first allowed minute of the window.
                    proptest::prop_assert!(!any_allowed(window_start, at - SignedDuration::from_mins(1), &timing, territory));
                } else {
                    // Sent early: nothing allowed between it and the window's end.
                    proptest::prop_assert!(!any_allowed(at + SignedDuration::from_mins(1), window_end, &timing, territory));
                }
            }
            SmsPlan::DialNotBefore(later) => {
                proptest::prop_assert_eq!(timing.policy, QuietPolicy::DelayCall);
                proptest::prop_assert!(!window_open);
                proptest::prop_assert!(later > dial_at);
                match plan_sms(later, now, territory, &timing) {
                    SmsPlan::SendAt(at) => {
                        proptest::prop_assert!(allowed(at, &timing, territory));
                        proptest::prop_assert!(at >= later - lead_max && at <= later - lead_min);
                    }
                    other => proptest::prop_assert!(false, "the delayed call is not announced: {other:?}"),
                }
                // No earlier call (by whole minutes) could be announced.
                let earlier = later - SignedDuration::from_mins(1);
                if earlier >= dial_at {
                    let start = (earlier - lead_max).max(now);
                    proptest::prop_assert!(!any_allowed(start, earlier - lead_min, &timing, territory));
                }
            }
            SmsPlan::CannotAnnounce(why) => {
                proptest::prop_assert!(!window_open);
                match (timing.policy, why.reason) {
                    (QuietPolicy::LatestBefore { .. }, UnannouncedReason::TooSoon) => proptest::prop_assert!(now > window_end),
                    (QuietPolicy::LatestBefore { lead_max: far }, UnannouncedReason::QuietHours) => {
                        proptest::prop_assert!(!any_allowed((dial_at - far).max(now), window_end, &timing, territory));
                    }
                    (_, UnannouncedReason::NoAllowedTime) => proptest::prop_assert!(why.earliest_dial_at.is_none()),
                    (policy, reason) => proptest::prop_assert!(false, "{reason} under {policy:?}"),
                }
                if let Some(later) = why.earliest_dial_at {
                    proptest::prop_assert!(later > dial_at);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Status and STOP
// ---------------------------------------------------------------------------------

#[test]
fn status_machine() {
    let allowed = [
        "queued -> submitted",
        "queued -> delivered",
        "queued -> failed",
        "queued -> expired",
        "queued -> cancelled",
        "submitted -> delivered",
        "submitted -> failed",
        "submitted -> expired",
        "failed -> delivered",
        "expired -> delivered",
    ];
    let mut found = Vec::new();
    for &from in SmsStatus::ALL {
        for &to in SmsStatus::ALL {
            match from.transition(to) {
                Ok(s) => {
                    assert_eq!(s, to);
                    found.push(format!("{from} -> {to}"));
                }
                Err(e) => {
                    assert_eq!(e, SmsTransitionError { from, to });
                    assert!(!from.can_become(to));
                }
            }
        }
        assert_eq!(from.is_final(), !matches!(from, SmsStatus::Queued | SmsStatus::Submitted), "{from}");
    }
    assert_eq!(found, allowed);
    assert_eq!(
        SmsStatus::Delivered.transition(SmsStatus::Failed).map_err(|e| e.to_string()),
        Err("status: an SMS cannot go from delivered to failed".to_owned())
    );
}

#[test]
fn stop_replies() {
    let stop = [
        "STOP",
        "stop",
        "Stop",
        " stop ",
        "STOP.",
        "stop!",
        "Stop SMS",
        "STOP SMS",
        "stop sms.",
        "STOPSMS",
        "ARRET",
        "arrêt",
        "ARRÊT",
        "Arret SMS",
        "« Stop »",
        "\"STOP\"",
        "stop merci",
        "STOP svp",
        "Stop, merci !",
        "STOP STOP",
        "A\u{0302}rret",
        "ARRE\u{0302}T",
        "stop\n",
        "...stop...",
        "Stop thank you",
    ];
    for text in stop {
        assert!(is_stop_reply(text), "{text:?} is a STOP");
    }
    let not_stop = [
        "",
        "  ",
        "OK",
        "Oui",
        "stopper",
        "Ne stoppez pas",
        "je ne veux pas que ça s'arrête",
        "stop appeler mon mari",
        "non stop",
        "STOP SMS SVP merci beaucoup",
        "arrête",
        "Stop 1234",
        "Merci",
    ];
    for text in not_stop {
        assert!(!is_stop_reply(text), "{text:?} is not a STOP");
    }
}
