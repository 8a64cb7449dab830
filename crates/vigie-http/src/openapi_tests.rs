//! scratch
use crate::api;

#[test]
fn probe() {
    let t: vigie_core::Timestamp = "2026-11-27T09:30:00+01:00".parse().expect("ts");
    println!("ts display: {t}");
    let t: vigie_core::Timestamp = "2026-11-27T09:30:00.25Z".parse().expect("ts");
    println!("ts display: {t}");
    for s in [
        "2026-11-27 09:30:00Z",
        "2026-11-27t09:30:00z",
        "2026-11-27T09:30:00",
        "2026-11-27T09:30Z",
        "2026-11-27T09:30:00+01:00[Europe/Paris]",
    ] {
        println!("parse {s:?}: {:?}", s.parse::<vigie_core::Timestamp>().map(|t| t.to_string()));
    }
    for s in [
        "612345678",
        "123456789",
        "0123456789",
        "12345",
        "42",
        "dialer-42-0001",
        "2026-0001",
        "+33612345678",
        "33612345678",
        "1234567890",
    ] {
        println!("phone {s:?}: {:?}", vigie_core::E164::parse(s).map(|e| e.to_string()));
    }
    let bodies: [&[u8]; 8] = [
        br#"{"id":"a","name":"b","display_name":"c","city":"d","callback":"e","x":1}"#,
        br#"{"id":"a","name":"b","display_name":"c","city":"d"}"#,
        br#"{"id":1,"name":"b","display_name":"c","city":"d","callback":"e"}"#,
        br#"[]"#,
        br#""#,
        br#"{"id":"a""#,
        br#"{"id":"a","name":"b","display_name":"c","city":"d","callback":"e"} x"#,
        br#"{"id":null,"name":"b","display_name":"c","city":"d","callback":"e"}"#,
    ];
    for b in bodies {
        let e = api::parse::<api::FacilityIn>(&axum::body::Bytes::from_static(b)).err();
        println!("{:?} -> {:?}", String::from_utf8_lossy(b), e);
    }
    let e = api::parse::<api::OutcomeIn>(&axum::body::Bytes::from_static(
        br#"{"outcome":"busy","duration_s":-1,"ended_at":"x"}"#,
    ))
    .err();
    println!("{e:?}");
    let e = api::parse::<api::OutcomeIn>(&axum::body::Bytes::from_static(
        br#"{"outcome":"busy","duration_s":1,"ended_at":"x"}"#,
    ))
    .err();
    println!("{e:?}");
    let e = api::parse::<api::ReportIn>(&axum::body::Bytes::from_static(
        br#"{"number":"1","source":"x","reported_at":"x","detail":null}"#,
    ))
    .err();
    println!("{e:?}");
}
