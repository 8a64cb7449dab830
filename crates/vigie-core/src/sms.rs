//! The pre-call SMS, its pure part: GSM 03.38 or UCS-2 encoding and segment counts,
//! templates (refused when they can grow past their segments), the sender, when the
//! SMS goes around quiet hours, its status machine and STOP replies.
//!
//! No I/O and no clock: the providers (`vigie-sms`) send what is computed here, and
//! the store records it.

use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::calendar::{add_days, next, prev};
use crate::catalog::InvalidField;
use crate::holidays::HolidayCalendar;
use crate::hours::{TimeRange, WeeklyHours};
use crate::names::named_enum;
use crate::phone::{E164, NumberCategory};
use crate::territory::Territory;

// ---------------------------------------------------------------------------------
// Encoding and segments
// ---------------------------------------------------------------------------------

named_enum!(
    /// How an SMS's text is coded on the air.
    SmsEncoding, "encoding", {
        /// GSM 03.38, the default alphabet with its extension table: 7-bit septets.
        Gsm7 = "gsm7",
        /// UCS-2 (UTF-16 big-endian here): 16-bit units, for any other text.
        Ucs2 = "ucs2",
    }
);

impl SmsEncoding {
    /// The SMPP `data_coding` of the encoding: 0 (the SMSC's default alphabet, GSM
    /// 03.38) or 8 (UCS-2).
    pub fn data_coding(self) -> u8 {
        match self {
            SmsEncoding::Gsm7 => 0,
            SmsEncoding::Ucs2 => 8,
        }
    }

    /// Most units one SMS holds on its own: 160 septets or 70 UCS-2 units.
    pub fn single_units_max(self) -> u32 {
        match self {
            SmsEncoding::Gsm7 => 160,
            SmsEncoding::Ucs2 => 70,
        }
    }

    /// Most units one segment of a concatenated SMS holds, its 6-byte user data
    /// header taken: 153 septets or 67 UCS-2 units.
    pub fn segment_units_max(self) -> u32 {
        match self {
            SmsEncoding::Gsm7 => 153,
            SmsEncoding::Ucs2 => 67,
        }
    }

    /// Bytes per unit in the SMPP `short_message`: 1 (unpacked septets) or 2.
    fn unit_bytes(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 1,
            SmsEncoding::Ucs2 => 2,
        }
    }
}

/// Most segments an SMS may be split into: the concatenation header counts parts in
/// one byte.
pub const SMS_SEGMENTS_MAX: u32 = 255;

/// The size of an SMS: its encoding, the units it takes (septets for GSM 03.38, an
/// extension character counting 2; UTF-16 units for UCS-2, a character outside the
/// Basic Multilingual Plane counting 2) and the segments it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    /// The encoding the text needs.
    pub encoding: SmsEncoding,
    /// Segments: 1 up to 160 septets or 70 UCS-2 units, else concatenated segments of
    /// at most 153 or 67, an escape pair or a surrogate pair never split.
    pub segments: u32,
    /// Septets or UTF-16 units in the whole text.
    pub units: u32,
}

/// The position of a character in the GSM 03.38 default alphabet.
fn gsm_basic(c: char) -> Option<u8> {
    let code = match c {
        '@' => 0x00,
        '£' => 0x01,
        '$' => 0x02,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        '\n' => 0x0A,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        '\r' => 0x0D,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        '_' => 0x11,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        // Space to '?' except '$' (0x24, which is '¤' above), A-Z and a-z sit at their
        // ASCII positions.
        ' '..='#' | '%'..='?' | 'A'..='Z' | 'a'..='z' => c as u8,
        _ => return None,
    };
    Some(code)
}

/// The escape character of GSM 03.38, which announces an extension-table character.
const GSM_ESCAPE: u8 = 0x1B;

/// The position, after the escape, of a character of the GSM 03.38 extension table.
fn gsm_extension(c: char) -> Option<u8> {
    let code = match c {
        '\u{0C}' => 0x0A, // form feed
        '^' => 0x14,
        '{' => 0x28,
        '}' => 0x29,
        '\\' => 0x2F,
        '[' => 0x3C,
        '~' => 0x3D,
        ']' => 0x3E,
        '|' => 0x40,
        '€' => 0x65,
        _ => return None,
    };
    Some(code)
}

/// Septets a character takes in GSM 03.38 (1, or 2 for the extension table), if it
/// has a place there.
fn gsm_septets(c: char) -> Option<u32> {
    if gsm_basic(c).is_some() {
        Some(1)
    } else if gsm_extension(c).is_some() {
        Some(2)
    } else {
        None
    }
}

/// Whether every character of `text` is in GSM 03.38 (with its extension table).
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_septets(c).is_some())
}

/// The encoding `text` needs: GSM 03.38 when every character fits, else UCS-2.
pub fn sms_encoding(text: &str) -> SmsEncoding {
    if is_gsm7(text) { SmsEncoding::Gsm7 } else { SmsEncoding::Ucs2 }
}

/// The units of each character of `text` in `encoding`, in order.
fn unit_widths(text: &str, encoding: SmsEncoding) -> impl Iterator<Item = u32> + Clone + '_ {
    text.chars().map(move |c| match encoding {
        SmsEncoding::Gsm7 => gsm_septets(c).unwrap_or(1),
        // len_utf16 is 1 or 2.
        SmsEncoding::Ucs2 => c.len_utf16() as u32,
    })
}

/// Splits characters of the given widths into segments; the units where each
/// segment ends, cumulated. A character (an escape pair, a surrogate pair) is never
/// split: a segment that cannot take it whole ends before it.
fn segment_ends(widths: impl Iterator<Item = u32> + Clone, encoding: SmsEncoding) -> Vec<u32> {
    let total: u32 = widths.clone().sum();
    if total <= encoding.single_units_max() {
        return vec![total];
    }
    let max = encoding.segment_units_max();
    let mut ends = Vec::new();
    let (mut done, mut current) = (0_u32, 0_u32);
    for w in widths {
        if current + w > max {
            ends.push(done);
            current = 0;
        }
        current += w;
        done += w;
    }
    ends.push(done);
    ends
}

/// The encoding, segments and units of `text` as an SMS.
pub fn sms_length(text: &str) -> SmsLength {
    let encoding = sms_encoding(text);
    let ends = segment_ends(unit_widths(text, encoding), encoding);
    let units = ends.last().copied().unwrap_or(0);
    SmsLength { encoding, segments: u32::try_from(ends.len()).unwrap_or(u32::MAX), units }
}

/// An SMS's text coded for SMPP: GSM 03.38 unpacked (one septet per byte, escape
/// pairs as two bytes; `data_coding` 0) or UCS-2 big-endian (`data_coding` 8), and
/// where its segments end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSms {
    length: SmsLength,
    bytes: Vec<u8>,
    segment_ends: Vec<usize>,
}

impl EncodedSms {
    /// The encoding, segments and units.
    pub fn length(&self) -> SmsLength {
        self.length
    }

    /// The whole text's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes of each segment, in order (one segment for a single SMS), without
    /// the user data header a concatenated SMS adds to each.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.segment_ends.iter().map(move |&end| {
            let part = &self.bytes[start..end];
            start = end;
            part
        })
    }
}

/// Codes `text` for SMPP in the encoding [`sms_length`] gives it.
pub fn encode_sms(text: &str) -> EncodedSms {
    let encoding = sms_encoding(text);
    let mut bytes = Vec::with_capacity(text.len() * 2);
    for c in text.chars() {
        match encoding {
            SmsEncoding::Gsm7 => match (gsm_basic(c), gsm_extension(c)) {
                (Some(code), _) => bytes.push(code),
                (None, Some(code)) => bytes.extend([GSM_ESCAPE, code]),
                // sms_encoding chose GSM, so every character is in one table.
                (None, None) => unreachable!("{c:?} is not GSM 03.38"),
            },
            SmsEncoding::Ucs2 => {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    bytes.extend(unit.to_be_bytes());
                }
            }
        }
    }
    let ends = segment_ends(unit_widths(text, encoding), encoding);
    let units = ends.last().copied().unwrap_or(0);
    let length = SmsLength { encoding, segments: u32::try_from(ends.len()).unwrap_or(u32::MAX), units };
    let segment_ends = ends.into_iter().map(|units| units as usize * encoding.unit_bytes()).collect();
    EncodedSms { length, bytes, segment_ends }
}

/// The GSM 03.38 default alphabet by position (0x1B, the escape, stands as a space
/// here and is handled before the table is read).
const GSM_BASIC_TABLE: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The character an extension-table position stands for, after the escape.
fn gsm_extension_char(code: u8) -> Option<char> {
    let c = match code {
        0x0A => '\u{0C}',
        0x14 => '^',
        0x28 => '{',
        0x29 => '}',
        0x2F => '\\',
        0x3C => '[',
        0x3D => '~',
        0x3E => ']',
        0x40 => '|',
        0x65 => '€',
        _ => return None,
    };
    Some(c)
}

/// Decodes the user data of an SMS as SMPP carries it (after any user data header):
/// `data_coding` 0 (GSM 03.38, unpacked septets), 1 (IA5, ASCII), 3 (Latin-1) or 8
/// (UCS-2, read as UTF-16 big-endian). `None` for another coding or bytes that are not
/// valid in it (a septet above 0x7F, an odd UCS-2 length, a lone surrogate).
///
/// An escape followed by a position the extension table does not use reads as the
/// basic character at that position, as GSM 03.38 asks of receivers.
pub fn decode_sms(data_coding: u8, bytes: &[u8]) -> Option<String> {
    match data_coding {
        0 => {
            let mut out = String::with_capacity(bytes.len());
            let mut iter = bytes.iter().copied();
            while let Some(b) = iter.next() {
                let septet = usize::from(b);
                if septet >= GSM_BASIC_TABLE.len() {
                    return None;
                }
                if b != GSM_ESCAPE {
                    out.push(GSM_BASIC_TABLE[septet]);
                    continue;
                }
                match iter.next() {
                    Some(code) if usize::from(code) < GSM_BASIC_TABLE.len() => {
                        out.push(gsm_extension_char(code).unwrap_or(GSM_BASIC_TABLE[usize::from(code)]));
                    }
                    Some(_) => return None,
                    // A trailing escape: nothing follows it.
                    None => {}
                }
            }
            Some(out)
        }
        1 => bytes.is_ascii().then(|| bytes.iter().map(|&b| char::from(b)).collect()),
        3 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        8 => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units = bytes.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------

named_enum!(
    /// A value a template's text may hold, written `{name}`. Each variant says the
    /// longest value [`Template::parse`] checks a template against.
    Placeholder, "placeholder", {
        /// The facility's displayed name. Longest: [`FACILITY_CHARS_MAX`] characters
        /// outside GSM 03.38 (such as `ô`), which make the SMS UCS-2, or, in GSM,
        /// extension-table characters of 2 septets each, whichever costs more.
        Facility = "facility",
        /// The call's local date, `12/03/2026`. Longest: 10 characters.
        Date = "date",
        /// The call's local time, `14h30`. Longest: 5 characters.
        Time = "time",
        /// The facility's callback number, `04 78 00 00 00`. Longest: 16 characters
        /// (a foreign number in E.164).
        Callback = "callback",
        /// The number the call will come from, `04 78 20 00 01`, so that the patient
        /// recognises it. Longest: 16 characters.
        Caller = "caller",
    }
);

/// Longest facility name a template is checked against: the API's limit for a
/// facility's `display_name` (64 characters).
pub const FACILITY_CHARS_MAX: usize = 64;

/// The longest value of each placeholder, as the worst case a template is checked
/// against when it is parsed.
///
/// - `{facility}`: [`FACILITY_CHARS_MAX`] characters, each of the kind that costs the
///   most: characters outside GSM 03.38 (such as `ô` in « Hôpital »), which turn the
///   whole SMS into UCS-2, or, for an SMS that stays GSM, extension-table characters
///   of 2 septets each. Characters outside the Basic Multilingual Plane (emoji), which
///   would count 2 units each, are not plausible in a facility's name; rendering
///   checks the real text anyway and refuses an SMS over its segments.
/// - `{date}`: 10 characters, `31/12/2026`.
/// - `{time}`: 5 characters, `23h59`.
/// - `{callback}` and `{caller}`: 16 characters, the longest E.164 number (`+` and 15
///   digits) for a foreign number; a French one is written `04 78 00 00 00` (14).
fn worst_case_value(placeholder: Placeholder, gsm_only: bool) -> String {
    match placeholder {
        Placeholder::Facility if gsm_only => "€".repeat(FACILITY_CHARS_MAX),
        Placeholder::Facility => "ô".repeat(FACILITY_CHARS_MAX),
        Placeholder::Date => "31/12/2026".to_owned(),
        Placeholder::Time => "23h59".to_owned(),
        Placeholder::Callback | Placeholder::Caller => format!("+{}", "9".repeat(15)),
    }
}

/// Most segments a template may be configured for.
pub const TEMPLATE_SEGMENTS_MAX: u32 = 10;

/// The default limit of segments per SMS: 3. The default texts stay within one
/// segment for a usual facility name and within 3 in the worst case.
pub const DEFAULT_MAX_SEGMENTS: u32 = 3;

/// Why a template was refused, or could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: {problem}")]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    /// What is wrong with it.
    pub problem: TemplateProblem,
}

/// What is wrong with a template, or with the values it was filled with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    /// The text is empty.
    #[error("the text is empty")]
    Empty,
    /// A placeholder that is not one of [`Placeholder`].
    #[error("unknown placeholder {{{0}}}: use {{facility}}, {{date}}, {{time}}, {{callback}} or {{caller}}")]
    UnknownPlaceholder(String),
    /// A `{` without its `}`, a `}` without its `{`, or a `{` inside a placeholder.
    #[error("unbalanced brace at character {position}: placeholders are written {{name}}")]
    UnbalancedBrace {
        /// The character's position in the text, from 1.
        position: usize,
    },
    /// A control character other than a line break.
    #[error("control character at character {position}: only line breaks are allowed")]
    ControlCharacter {
        /// The character's position in the text, from 1.
        position: usize,
    },
    /// The limit of segments is out of range.
    #[error("max_segments must be between 1 and {TEMPLATE_SEGMENTS_MAX}, not {0}")]
    MaxSegments(u32),
    /// The text, filled with the longest values (or, when rendering, with the real
    /// ones), takes more segments than allowed.
    #[error(
        "takes {segments} segments ({units} {encoding} units) once filled with the longest values, more than max_segments {max_segments}"
    )]
    TooLong {
        /// Segments it takes.
        segments: u32,
        /// Units it takes.
        units: u32,
        /// Its encoding.
        encoding: SmsEncoding,
        /// The limit.
        max_segments: u32,
    },
    /// The facility's name given to fill the template is empty, too long or holds a
    /// control character.
    #[error("the facility's name must be 1 to {FACILITY_CHARS_MAX} characters without control characters")]
    FacilityName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Placeholder),
}

/// An SMS template: text with placeholders, checked when parsed so that it can never
/// take more than its `max_segments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    name: String,
    text: String,
    pieces: Vec<Piece>,
    max_segments: u32,
    worst: SmsLength,
}

/// The values a template is filled with for one call.
#[derive(Debug, Clone, Copy)]
pub struct SmsFields<'a> {
    /// The facility's displayed name.
    pub facility: &'a str,
    /// When the call will be dialled.
    pub dial_at: Timestamp,
    /// The facility's callback number.
    pub callback: &'a E164,
    /// The number the call will come from.
    pub caller: &'a E164,
}

/// A filled template: the text to send and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSms {
    /// The text.
    pub text: String,
    /// Its encoding, units and segments (what the SMS costs).
    pub length: SmsLength,
}

impl Template {
    /// Parses a template, refusing an empty text, an unknown placeholder, unbalanced
    /// braces, a control character other than a line break, or a text that can take
    /// more than `max_segments` once filled with the longest values (see
    /// [`FACILITY_CHARS_MAX`] and the values documented on [`Placeholder`]).
    pub fn parse(name: &str, text: &str, max_segments: u32) -> Result<Template, TemplateError> {
        let refuse = |problem| TemplateError { template: name.to_owned(), problem };
        if !(1..=TEMPLATE_SEGMENTS_MAX).contains(&max_segments) {
            return Err(refuse(TemplateProblem::MaxSegments(max_segments)));
        }
        if text.trim().is_empty() {
            return Err(refuse(TemplateProblem::Empty));
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut field: Option<(usize, String)> = None;
        for (i, c) in text.chars().enumerate() {
            let position = i + 1;
            if c.is_control() && c != '\n' && c != '\r' {
                return Err(refuse(TemplateProblem::ControlCharacter { position }));
            }
            match (c, field.as_mut()) {
                ('{', None) => field = Some((position, String::new())),
                ('{', Some(_)) => return Err(refuse(TemplateProblem::UnbalancedBrace { position })),
                ('}', None) => return Err(refuse(TemplateProblem::UnbalancedBrace { position })),
                ('}', Some((_, name_text))) => {
                    let placeholder = Placeholder::parse(name_text)
                        .map_err(|_| refuse(TemplateProblem::UnknownPlaceholder(name_text.clone())))?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(placeholder));
                    field = None;
                }
                (c, Some((_, name_text))) => name_text.push(c),
                (c, None) => literal.push(c),
            }
        }
        if let Some((position, _)) = field {
            return Err(refuse(TemplateProblem::UnbalancedBrace { position }));
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let fill = |gsm_only: bool| {
            let mut out = String::new();
            for piece in &pieces {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Field(p) => out.push_str(&worst_case_value(*p, gsm_only)),
                }
            }
            sms_length(&out)
        };
        let (ucs2, gsm) = (fill(false), fill(true));
        let worst = if (gsm.segments, gsm.units) > (ucs2.segments, ucs2.units) { gsm } else { ucs2 };
        if worst.segments > max_segments {
            return Err(refuse(TemplateProblem::TooLong {
                segments: worst.segments,
                units: worst.units,
                encoding: worst.encoding,
                max_segments,
            }));
        }
        Ok(Template { name: name.to_owned(), text: text.to_owned(), pieces, max_segments, worst })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Most segments an SMS from it may take.
    pub fn max_segments(&self) -> u32 {
        self.max_segments
    }

    /// The size of the SMS filled with the longest values.
    pub fn worst_case(&self) -> SmsLength {
        self.worst
    }

    /// The placeholders the text uses, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(*f),
            Piece::Text(_) => None,
        })
    }

    /// Fills the template for one call, the date and time read in `tz` (Europe/Paris,
    /// or the patient's zone) and written the French way (`12/03/2026`, `14h30`);
    /// numbers in French national form spaced by pairs, or E.164 when foreign.
    ///
    /// Refuses a facility name that is empty, longer than [`FACILITY_CHARS_MAX`] or
    /// holds a control character, and an SMS over `max_segments` (possible only with
    /// characters outside the Basic Multilingual Plane).
    pub fn render(&self, fields: &SmsFields<'_>, tz: &TimeZone) -> Result<RenderedSms, TemplateError> {
        let refuse = |problem| TemplateError { template: self.name.clone(), problem };
        let facility = fields.facility.trim();
        if facility.is_empty()
            || facility.chars().count() > FACILITY_CHARS_MAX
            || facility.chars().any(char::is_control)
        {
            return Err(refuse(TemplateProblem::FacilityName));
        }
        let local = fields.dial_at.to_zoned_datetime(tz.clone());
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Field(Placeholder::Facility) => text.push_str(facility),
                Piece::Field(Placeholder::Date) => text.push_str(&local.strftime("%d/%m/%Y").to_string()),
                Piece::Field(Placeholder::Time) => text.push_str(&local.strftime("%Hh%M").to_string()),
                Piece::Field(Placeholder::Callback) => text.push_str(&spoken_number(fields.callback)),
                Piece::Field(Placeholder::Caller) => text.push_str(&spoken_number(fields.caller)),
            }
        }
        let length = sms_length(&text);
        if length.segments > self.max_segments {
            return Err(refuse(TemplateProblem::TooLong {
                segments: length.segments,
                units: length.units,
                encoding: length.encoding,
                max_segments: self.max_segments,
            }));
        }
        Ok(RenderedSms { text, length })
    }
}

/// A number as a patient reads it: `04 78 20 00 01` for a French number, E.164
/// otherwise.
fn spoken_number(number: &E164) -> String {
    let national = number.national();
    if national.starts_with('0') && national.len() == 10 {
        let digits: Vec<&str> = (0..5).map(|i| &national[2 * i..2 * i + 2]).collect();
        digits.join(" ")
    } else {
        national
    }
}

named_enum!(
    /// A language the default texts exist in.
    Language, "language", {
        /// French, the default.
        Fr = "fr",
        /// English.
        En = "en",
    }
);

/// The purposes announced by SMS by default: the patient calls. `coordination` calls
/// professionals and is not announced.
pub const ANNOUNCED_PURPOSES: [&str; 3] = ["appointment_reminder", "results_followup", "satisfaction_survey"];

/// The default text of a purpose's SMS, if the purpose is announced by default.
///
/// The texts carry no medical content (no result, no diagnosis, no department): only
/// who calls, when, from which number, and "about your appointment" or "about your
/// follow-up". They are written in GSM 03.38 (no `ê`, `’` or `«`), so that with a
/// usual facility name they fit one segment. The survey's text says how to refuse
/// (STOP), as the CNIL asks of solicitation.
pub fn default_template_text(purpose: &str, language: Language) -> Option<&'static str> {
    let text = match (purpose, language) {
        ("appointment_reminder", Language::Fr) => {
            "{facility} vous appellera le {date} vers {time} depuis le {caller} au sujet de votre rendez-vous. Sans réponse, nous vous rappellerons."
        }
        ("results_followup", Language::Fr) => {
            "{facility} vous appellera le {date} vers {time} depuis le {caller} au sujet de votre suivi. Sans réponse, nous vous rappellerons."
        }
        ("satisfaction_survey", Language::Fr) => {
            "{facility} vous appellera le {date} vers {time} depuis le {caller} pour un questionnaire de satisfaction. Répondez STOP pour refuser."
        }
        ("appointment_reminder", Language::En) => {
            "{facility} will call you on {date} at about {time} from {caller} about your appointment. If you miss it, we will call back."
        }
        ("results_followup", Language::En) => {
            "{facility} will call you on {date} at about {time} from {caller} about your follow-up. If you miss it, we will call back."
        }
        ("satisfaction_survey", Language::En) => {
            "{facility} will call you on {date} at about {time} from {caller} for a short satisfaction survey. Reply STOP to opt out."
        }
        _ => return None,
    };
    Some(text)
}

// ---------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------

/// Words French operators block or overwrite as an alphanumeric sender since
/// 10 March 2025 (generic words), and generic senders the research warns against
/// (`../shared/research/regulatory.md` §4, `market.md`).
const GENERIC_SENDERS: [&str; 11] =
    ["ALERT", "ALERTE", "RDV", "RAPPEL", "INFO", "SMS", "SANTE", "PAYMENT", "PAIEMENT", "BANK", "PARCEL"];

/// An alphanumeric sender ID (OADC), such as `CliniqueSJ`.
///
/// 3 to 11 characters, ASCII letters and digits only, at least one letter, and not a
/// generic word. Spaces, accents and punctuation are refused although GSM 03.38 has
/// them: French operators block or overwrite senders with special characters or
/// spaces since 10 March 2025 (research, regulatory.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SenderId(String);

impl SenderId {
    /// Parses a sender ID.
    pub fn parse(text: &str) -> Result<SenderId, InvalidField> {
        let n = text.chars().count();
        if !(3..=11).contains(&n) {
            return Err(InvalidField::new("sender_id", "must be 3 to 11 characters"));
        }
        if !text.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidField::new(
                "sender_id",
                "must hold only letters A-Z, a-z and digits: French operators refuse spaces, accents and punctuation",
            ));
        }
        if !text.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(InvalidField::new("sender_id", "must hold at least one letter"));
        }
        let upper = text.to_ascii_uppercase();
        if GENERIC_SENDERS.contains(&upper.as_str()) {
            return Err(InvalidField::new(
                "sender_id",
                format!("`{text}` is a generic word that French operators block: use the facility's name"),
            ));
        }
        Ok(SenderId(text.to_owned()))
    }

    /// The sender ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who an SMS comes from, as configured per facility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderChoice {
    /// Always this alphanumeric sender ID (a patient cannot reply to it).
    Alphanumeric(SenderId),
    /// The number the call will come from, so that the patient sees the same number
    /// twice and can reply.
    CallerNumber,
}

/// Who one SMS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSender {
    /// An alphanumeric sender ID.
    Alphanumeric(SenderId),
    /// A telephone number.
    Number(E164),
}

impl SenderChoice {
    /// The sender of the SMS announcing a call from `caller`; refuses a mobile or
    /// premium-rate caller number (operators do not let a business send from 06 or 07,
    /// and 089 is never presented).
    pub fn resolve(&self, caller: &E164) -> Result<SmsSender, InvalidField> {
        match self {
            SenderChoice::Alphanumeric(id) => Ok(SmsSender::Alphanumeric(id.clone())),
            SenderChoice::CallerNumber => match caller.category() {
                NumberCategory::Mobile | NumberCategory::Premium => {
                    Err(InvalidField::new("sender", "a mobile or premium-rate number cannot send the centre's SMS"))
                }
                _ => Ok(SmsSender::Number(caller.clone())),
            },
        }
    }
}

// ---------------------------------------------------------------------------------
// When the SMS goes
// ---------------------------------------------------------------------------------

/// When, before the call, its SMS should go: from `lead_max` to `lead_min` before
/// `dial_at` (default 30 to 15 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsWindow {
    lead_max: SignedDuration,
    lead_min: SignedDuration,
}

/// Longest lead a window or a policy may have: 7 days.
const LEAD_MINUTES_MAX: u32 = 7 * 24 * 60;

impl SmsWindow {
    /// A window from `lead_max_minutes` to `lead_min_minutes` before the call:
    /// `0 < lead_min <= lead_max <= 10080` (7 days).
    pub fn new(lead_max_minutes: u32, lead_min_minutes: u32) -> Result<SmsWindow, InvalidField> {
        if lead_min_minutes == 0 {
            return Err(InvalidField::new("lead_min_minutes", "must be at least 1"));
        }
        if lead_max_minutes < lead_min_minutes || lead_max_minutes > LEAD_MINUTES_MAX {
            return Err(InvalidField::new(
                "lead_max_minutes",
                format!("must be between lead_min_minutes and {LEAD_MINUTES_MAX}"),
            ));
        }
        Ok(SmsWindow {
            lead_max: SignedDuration::from_mins(i64::from(lead_max_minutes)),
            lead_min: SignedDuration::from_mins(i64::from(lead_min_minutes)),
        })
    }

    /// The earliest the SMS goes, before the call.
    pub fn lead_max(self) -> SignedDuration {
        self.lead_max
    }

    /// The latest the SMS goes, before the call.
    pub fn lead_min(self) -> SignedDuration {
        self.lead_min
    }
}

impl Default for SmsWindow {
    fn default() -> SmsWindow {
        SmsWindow { lead_max: SignedDuration::from_mins(30), lead_min: SignedDuration::from_mins(15) }
    }
}

/// When SMS may be sent at all (the rest is quiet hours), read in the patient's time
/// zone.
///
/// Defaults: 08:00 to 20:00, never on Sundays nor on public holidays. No text sets
/// SMS hours for care messages (the AF2M charter exempts functional messages); these
/// are the hours patients are called in, and the issue's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsQuietHours {
    /// The local times an SMS may go, every allowed day.
    pub allowed: TimeRange,
    /// Whether SMS may go on Sundays. Default: false.
    pub sundays_allowed: bool,
    /// Whether SMS may go on public holidays. Default: false.
    pub holidays_allowed: bool,
}

impl Default for SmsQuietHours {
    fn default() -> SmsQuietHours {
        let allowed = match TimeRange::new(8 * 60, 20 * 60) {
            Ok(range) => range,
            Err(e) => unreachable!("08:00-20:00 is a range: {e}"),
        };
        SmsQuietHours { allowed, sundays_allowed: false, holidays_allowed: false }
    }
}

impl SmsQuietHours {
    /// The allowed hours as weekly hours.
    fn weekly(&self) -> WeeklyHours {
        let days = [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
        ];
        let sunday = self.sundays_allowed.then_some(Weekday::Sunday);
        let ranges = days.into_iter().chain(sunday).map(|d| (d, self.allowed));
        match WeeklyHours::new(ranges) {
            Ok(hours) => hours,
            Err(e) => unreachable!("one range per day is valid weekly hours: {e}"),
        }
    }
}

/// What to do when no instant of the window is allowed (quiet hours, a Sunday, a
/// holiday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietPolicy {
    /// Send earlier: at the latest allowed instant that still leaves the window's
    /// `lead_min` before the call, and no earlier than `lead_max` before it (default
    /// 18 hours: a call at 08:10 is announced at 19:59 the evening before, a call on
    /// Monday morning cannot be announced on Saturday evening).
    LatestBefore {
        /// The earliest, before the call, the SMS may go.
        lead_max: SignedDuration,
    },
    /// Move the call: answer with the earliest `dial_at` whose window holds an allowed
    /// instant.
    DelayCall,
}

impl Default for QuietPolicy {
    fn default() -> QuietPolicy {
        QuietPolicy::LatestBefore { lead_max: SignedDuration::from_hours(18) }
    }
}

/// Everything that decides when one purpose's SMS goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTiming {
    /// The window before the call (default 30 to 15 minutes).
    pub window: SmsWindow,
    /// The hours SMS may go in.
    pub quiet: SmsQuietHours,
    /// What to do when the window falls in quiet hours.
    pub policy: QuietPolicy,
    /// The holidays observed (default: L3133-1 and the overseas abolition days for
    /// their patients).
    pub holidays: HolidayCalendar,
    /// How far ahead, in days, an allowed instant is searched. Default: 31.
    pub search_days: u32,
}

impl Default for SmsTiming {
    fn default() -> SmsTiming {
        SmsTiming {
            window: SmsWindow::default(),
            quiet: SmsQuietHours::default(),
            policy: QuietPolicy::default(),
            holidays: HolidayCalendar::default(),
            search_days: 31,
        }
    }
}

impl SmsTiming {
    /// Checks the figures: a `LatestBefore` lead at least the window's and at most 7
    /// days, `search_days` from 1 to 366, the holiday calendar.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if let QuietPolicy::LatestBefore { lead_max } = self.policy {
            let max = SignedDuration::from_mins(i64::from(LEAD_MINUTES_MAX));
            if lead_max < self.window.lead_max || lead_max > max {
                return Err(InvalidField::new(
                    "quiet_lead_max_minutes",
                    format!("must be between the window's lead_max_minutes and {LEAD_MINUTES_MAX}"),
                ));
            }
        }
        if !(1..=366).contains(&self.search_days) {
            return Err(InvalidField::new("search_days", "must be between 1 and 366"));
        }
        self.holidays.validate()
    }
}

/// When a call's SMS goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsPlan {
    /// Send it at this instant.
    SendAt(Timestamp),
    /// The window falls in quiet hours and the policy moves calls: the call can be
    /// announced if dialled at this instant or later.
    DialNotBefore(Timestamp),
    /// The call cannot be announced as planned; never left silently unannounced.
    CannotAnnounce(Unannounceable),
}

named_enum!(
    /// Why a call cannot be announced.
    UnannouncedReason, "reason", {
        /// The call is too close: less than the window's `lead_min` is left.
        TooSoon = "too_soon",
        /// The window and the policy's lead before it all fall in quiet hours.
        QuietHours = "quiet_hours",
        /// No allowed instant within the search horizon (a configuration that allows
        /// almost nothing).
        NoAllowedTime = "no_allowed_time",
    }
);

/// A call that cannot be announced, and when it could be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unannounceable {
    /// Why.
    pub reason: UnannouncedReason,
    /// The earliest `dial_at` that could be announced, if one was found.
    pub earliest_dial_at: Option<Timestamp>,
}

/// Margin before quiet hours: an SMS sent "at the latest" goes one minute before they
/// begin (19:59), so that a submission delayed by its queue still leaves in time.
const QUIET_MARGIN: SignedDuration = SignedDuration::from_mins(1);

/// Decides when the SMS of a call dialled at `dial_at` goes, `now` being when it is
/// planned; quiet hours and holidays are read in the patient's `territory`.
///
/// The SMS goes at the first allowed instant of the window `[dial_at - lead_max,
/// dial_at - lead_min]` that is not in the past. When there is none, the policy
/// decides: [`QuietPolicy::LatestBefore`] sends at the latest allowed instant before
/// the window within its lead, [`QuietPolicy::DelayCall`] answers the earliest
/// `dial_at` that can be announced. A send instant is always allowed, at or after
/// `now` and at least `lead_min` before `dial_at`.
pub fn plan_sms(dial_at: Timestamp, now: Timestamp, territory: Territory, timing: &SmsTiming) -> SmsPlan {
    let tz = territory.time_zone();
    let hours = timing.quiet.weekly();
    let closed = |day: Date| !timing.quiet.holidays_allowed && timing.holidays.holiday(day, territory).is_some();
    let window_start = dial_at - timing.window.lead_max;
    let window_end = dial_at - timing.window.lead_min;
    let from = window_start.max(now);
    let first = hours.next_allowed(from, &tz, closed, timing.search_days);
    if let Some(at) = first
        && at <= window_end
    {
        return SmsPlan::SendAt(at);
    }
    // No allowed instant in what is left of the window. The earliest call that can be
    // announced is announced at `first`, lead_min ahead: nothing is allowed between
    // `from` and `first`, so no earlier call's window holds an allowed instant.
    let earliest_dial_at = first.map(|at| (at + timing.window.lead_min).max(dial_at));
    match timing.policy {
        QuietPolicy::DelayCall => match earliest_dial_at {
            Some(at) => SmsPlan::DialNotBefore(at),
            None => {
                SmsPlan::CannotAnnounce(Unannounceable { reason: UnannouncedReason::NoAllowedTime, earliest_dial_at })
            }
        },
        QuietPolicy::LatestBefore { lead_max } => {
            if now > window_end {
                return SmsPlan::CannotAnnounce(Unannounceable {
                    reason: UnannouncedReason::TooSoon,
                    earliest_dial_at,
                });
            }
            let lower = (dial_at - lead_max).max(now);
            match latest_allowed(window_end, lower, &tz, &hours, closed) {
                Some(at) => SmsPlan::SendAt(at),
                None => {
                    SmsPlan::CannotAnnounce(Unannounceable { reason: UnannouncedReason::QuietHours, earliest_dial_at })
                }
            }
        }
    }
}

/// The latest instant in `[lower, upper]` that the hours allow on a day `closed` does
/// not refuse: `upper` itself, or one minute before an allowed stretch ends (see
/// [`QUIET_MARGIN`]).
fn latest_allowed(
    upper: Timestamp,
    lower: Timestamp,
    tz: &TimeZone,
    hours: &WeeklyHours,
    closed: impl Fn(Date) -> bool,
) -> Option<Timestamp> {
    let open = |at: Timestamp| {
        let local = tz.to_datetime(at);
        !closed(local.date()) && hours.allows(local)
    };
    if lower > upper {
        return None;
    }
    if open(upper) {
        return Some(upper);
    }
    // An allowed stretch ends where the local clock reaches a range's end (once, or
    // twice in an autumn fold), at midnight before a closed day (a range ending at
    // 24:00), or where a zone transition makes the clock jump out of a range.
    let mut candidates = Vec::new();
    let first_day = prev(tz.to_datetime(lower).date());
    let mut day = next(tz.to_datetime(upper).date());
    while day >= first_day {
        for range in hours.ranges(day.weekday()) {
            candidates.extend(range_end_instants(day, *range, tz));
        }
        let Ok(before) = day.yesterday() else { break };
        day = before;
    }
    for transition in tz.preceding(upper + QUIET_MARGIN) {
        if transition.timestamp() < lower {
            break;
        }
        candidates.push(transition.timestamp());
    }
    candidates.into_iter().map(|end| end - QUIET_MARGIN).filter(|&t| t >= lower && t <= upper && open(t)).max()
}

/// The instants a range ends at on a local day: one, two in a fold, the transition in
/// a gap; 24:00 is the start of the next day.
fn range_end_instants(day: Date, range: TimeRange, tz: &TimeZone) -> Vec<Timestamp> {
    let minutes = range.end_minutes();
    let (day, minutes) = if minutes >= 24 * 60 { (add_days(day, 1), 0) } else { (day, minutes) };
    // minutes < 1440, so the hour is below 24 and the minute below 60.
    let dt = day.to_datetime(Time::constant((minutes / 60) as i8, (minutes % 60) as i8, 0, 0));
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok().into_iter().collect(),
        AmbiguousOffset::Fold { before, after } => {
            [before.to_timestamp(dt).ok(), after.to_timestamp(dt).ok()].into_iter().flatten().collect()
        }
        // A gap: the local time does not exist; the clock jumped over it at the
        // transition, which the caller adds.
        AmbiguousOffset::Gap { .. } => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------

named_enum!(
    /// Where an SMS is in its life.
    SmsStatus, "status", {
        /// Planned, not handed to a provider yet.
        Queued = "queued",
        /// Accepted by a provider, which gave its message id.
        Submitted = "submitted",
        /// The handset received it (final).
        Delivered = "delivered",
        /// Refused by the provider or undeliverable (final).
        Failed = "failed",
        /// Not delivered in time: the network gave up, or it was never submitted before
        /// its call (final).
        Expired = "expired",
        /// Withdrawn before submission: the call was cancelled, moved or reassigned, or
        /// the patient opted out (final).
        Cancelled = "cancelled",
    }
);

/// A status change the machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status: an SMS cannot go from {from} to {to}")]
pub struct SmsTransitionError {
    /// The current status.
    pub from: SmsStatus,
    /// The refused one.
    pub to: SmsStatus,
}

impl SmsStatus {
    /// Whether nothing follows this status.
    pub fn is_final(self) -> bool {
        !matches!(self, SmsStatus::Queued | SmsStatus::Submitted)
    }

    /// Whether an SMS may go from this status to `to`: queued to submitted, failed,
    /// expired or cancelled; submitted to delivered, failed or expired. A delivery
    /// receipt is proof: it also settles an SMS still queued (the receipt came before
    /// the submission was recorded), failed (its claim's answer was lost) or expired
    /// (its receipt came late). Nothing else leaves a final status, and no status goes
    /// to itself.
    pub fn can_become(self, to: SmsStatus) -> bool {
        use SmsStatus::{Cancelled, Delivered, Expired, Failed, Queued, Submitted};
        matches!(
            (self, to),
            (Queued, Submitted | Delivered | Failed | Expired | Cancelled)
                | (Submitted, Delivered | Failed | Expired)
                | (Failed | Expired, Delivered)
        )
    }

    /// The status after a change to `to`, or why it is refused.
    pub fn transition(self, to: SmsStatus) -> Result<SmsStatus, SmsTransitionError> {
        if self.can_become(to) { Ok(to) } else { Err(SmsTransitionError { from: self, to }) }
    }
}

// ---------------------------------------------------------------------------------
// STOP replies
// ---------------------------------------------------------------------------------

/// Whether a patient's reply asks for no more SMS: `STOP`, `Stop SMS`, `ARRET`,
/// `ARRÊT`, `stop!`, `« Stop »`…, whatever the case and accents, with spaces and
/// punctuation around, and optionally a courtesy word after (`STOP merci`).
///
/// Only replies that are the keyword are recognised: `Ne stoppez pas` or `je ne
/// veux pas que ça s'arrête` are not.
pub fn is_stop_reply(text: &str) -> bool {
    let normalised = fold_accents(text);
    let words: Vec<&str> = normalised.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let (keyword, rest) = match words.split_first() {
        Some((first, rest)) => (*first, rest),
        None => return false,
    };
    let keyword_ok = matches!(keyword, "stop" | "arret" | "stopsms" | "arretsms");
    let rest = match rest.split_first() {
        Some((&"sms", after)) if matches!(keyword, "stop" | "arret") => after,
        _ => rest,
    };
    // After the keyword, only the keyword again or courtesy words (`STOP STOP`,
    // `stop merci`, `STOP svp`, `stop thank you`).
    let courtesy =
        |w: &&str| matches!(*w, "stop" | "arret" | "merci" | "svp" | "stp" | "please" | "thanks" | "thank" | "you");
    keyword_ok && rest.len() <= 3 && rest.iter().all(courtesy)
}

/// Lowercase, without the accents French text carries.
fn fold_accents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'â' | 'ä' | 'á' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' | 'ì' => 'i',
            'ô' | 'ö' | 'ó' | 'ò' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            // Combining accents (a decomposed `Ê`) are dropped.
            '\u{0300}'..='\u{036F}' => continue,
            c => c,
        };
        out.push(folded);
    }
    out
}

#[cfg(test)]
#[path = "sms_tests.rs"]
mod tests;
