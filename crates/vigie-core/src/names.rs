//! A macro for the small closed enums of the compliance rules whose values have a
//! stable name (for storage, configuration and the API): `parse`, `as_str`, `ALL` and
//! `Display`, all from one list.

/// Declares an enum whose variants each have a stable lowercase name; further derives
/// may follow the name in brackets (`DiallingMode [Default]`).
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident $([$($derive:ident),+])?, $field:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord $($(, $derive)+)?)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Parses the value's stable name.
            pub fn parse(text: &str) -> Result<$name, $crate::catalog::InvalidField> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::catalog::InvalidField::new(
                        $field,
                        format!("must be one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }

            /// The value's stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;
