//! How a download request ended: one list, used as the metrics label, the access-log field and
//! (for refusals) the suffix of the problem `type`.

macro_rules! outcomes {
    ($($variant:ident => $label:literal,)+) => {
        /// How a download request ended.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Outcome {
            $($variant,)+
        }

        impl Outcome {
            /// Every outcome, so each metrics series exists from the start.
            pub const ALL: &[Outcome] = &[$(Outcome::$variant,)+];

            /// The stable label: a metrics label value, a log field, a problem type suffix.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Outcome::$variant => $label,)+
                }
            }
        }
    };
}

outcomes! {
    Served => "served",
    Partial => "partial",
    Head => "head",
    HandedOff => "handed_off",
    Authorized => "authorized",
    Redeemed => "redeemed",
    InvalidToken => "invalid_token",
    Expired => "expired",
    AlreadyUsed => "already_used",
    BeforeEpoch => "before_epoch",
    GrantEnded => "grant_ended",
    ObjectChanged => "object_changed",
    Revoked => "revoked",
    NotFound => "not_found",
    RangeNotSatisfiable => "range_not_satisfiable",
    PreconditionFailed => "precondition_failed",
    Prefetch => "prefetch",
    Busy => "busy",
    ReplayUnavailable => "replay_unavailable",
    RevocationUnavailable => "revocation_unavailable",
    StorageUnavailable => "storage_unavailable",
    MethodNotAllowed => "method_not_allowed",
    NoSuchRoute => "no_such_route",
    UntrustedProxy => "untrusted_proxy",
    BadUri => "bad_uri",
    MissingUri => "missing_uri",
    MissingMethod => "missing_method",
    UnsafeObject => "unsafe_object",
    Unauthorized => "unauthorized",
    BadRequest => "bad_request",
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for outcome in Outcome::ALL {
            let label = outcome.as_str();
            assert!(seen.insert(label), "{label} twice");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }
}
