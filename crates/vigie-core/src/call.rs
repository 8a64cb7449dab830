//! Calls and reports as the rules see them: outcomes, report sources, and when a call
//! may be planned.

use jiff::{SignedDuration, Timestamp};

use crate::catalog::InvalidField;

/// How far from now a call's `dial_at` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialWindow {
    /// Most a `dial_at` may lie in the past (default 5 minutes).
    pub past_max: SignedDuration,
    /// Most a `dial_at` may lie ahead (default 14 days).
    pub ahead_max: SignedDuration,
}

impl Default for DialWindow {
    fn default() -> DialWindow {
        DialWindow { past_max: SignedDuration::from_mins(5), ahead_max: SignedDuration::from_hours(24 * 14) }
    }
}

impl DialWindow {
    /// Refuses a `dial_at` too far in the past or ahead of `now`.
    pub fn check(&self, dial_at: Timestamp, now: Timestamp) -> Result<(), InvalidField> {
        if dial_at < now - self.past_max {
            return Err(InvalidField::new(
                "dial_at",
                format!("must not be more than {} minutes in the past", self.past_max.as_secs() / 60),
            ));
        }
        if dial_at > now + self.ahead_max {
            return Err(InvalidField::new(
                "dial_at",
                format!("must not be more than {} days ahead", self.ahead_max.as_secs() / 86_400),
            ));
        }
        Ok(())
    }
}

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Parses the value's stable name.
            pub fn parse(text: &str) -> Result<$name, InvalidField> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(InvalidField::new($field, format!("must be one of: {}", [$($text),+].join(", ")))),
                }
            }

            /// The value's stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

word_enum!(
    /// How a call ended, as the dialer reports it.
    Outcome, "outcome", {
        /// The patient picked up.
        Answered = "answered",
        /// It rang out.
        NoAnswer = "no_answer",
        /// The line was busy.
        Busy = "busy",
        /// A voicemail took it.
        Voicemail = "voicemail",
        /// The network failed to connect it.
        Failed = "failed",
        /// The patient or their phone refused it.
        Refused = "refused",
    }
);

word_enum!(
    /// Where a spam report comes from.
    ReportSource, "source", {
        /// The patient complained.
        Patient = "patient",
        /// An agent heard that the call showed as spam.
        Agent = "agent",
        /// A community reporting database lists the number.
        CommunityDb = "community_db",
        /// The carrier flagged it.
        Carrier = "carrier",
        /// An anti-spam app labels it.
        AppLabel = "app_label",
        /// A verification tool scores it badly.
        VerificationTool = "verification_tool",
    }
);

/// Whether the reports a number received on one local day take it out of service.
pub fn reports_quarantine(reports_on_day: u32, reports_per_day_to_quarantine: u32) -> bool {
    reports_on_day >= reports_per_day_to_quarantine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_window_names_the_rule() {
        let now: Timestamp = "2026-11-27T10:00:00Z".parse().expect("ts");
        let w = DialWindow::default();
        assert!(w.check(now - SignedDuration::from_mins(4), now).is_ok());
        let e = w.check(now - SignedDuration::from_mins(6), now).expect_err("too old");
        assert_eq!(e.field, "dial_at");
        assert!(w.check(now + SignedDuration::from_hours(24 * 15), now).is_err());
        assert_eq!(Outcome::parse("busy"), Ok(Outcome::Busy));
        assert!(ReportSource::parse("neighbour").is_err());
        assert!(reports_quarantine(2, 2) && !reports_quarantine(1, 2));
    }
}
