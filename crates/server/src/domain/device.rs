//! The device authorization grant (RFC 8628): user codes, and what a poll of the token endpoint
//! or a visit to the verification page may do with a device code in a given state.
//!
//! A device code moves through: pending → approved or denied (on the verification page) →
//! redeemed (once, at the token endpoint). It expires `expires_in` seconds after issue whatever
//! its state, except that a redeemed code stays redeemed. The store reads the row, asks
//! [`poll`] or [`verification`] for a decision, and carries it out with conditional updates.

use rand::{rngs::OsRng, Rng};

use super::{scope::ScopeSet, OauthError};
use crate::clock::Millis;

/// The user-code alphabet: upper-case consonants and digits without the look-alikes 0/O,
/// 1/I/L and 8/B, and without vowels (so no words are spelled by accident; RFC 8628 §6.1).
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ2345679";
/// Characters in a user code (shown as two groups of four: `XXXX-XXXX`). 26^8 ≈ 2^37.6.
pub const USER_CODE_LEN: usize = 8;
/// How much the polling interval of a device code grows on each `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP_MS: Millis = 5_000;

/// A user code in canonical form: 8 characters from [`USER_CODE_ALPHABET`], no dash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode(String);

/// Why typed text is not a user code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCodeError {
    Empty,
    /// Not 8 characters once spaces and dashes are removed.
    WrongLength,
    /// A character that never appears in a user code (such as `0`, `O`, `1`, `I`, `L`, `8`).
    BadCharacter,
}

impl UserCodeError {
    /// A message for the verification page.
    pub fn message(self) -> &'static str {
        match self {
            Self::Empty => "Enter the code shown on your device.",
            Self::WrongLength => {
                "A code has 8 characters, like BCDF-GHJK. Check the code shown on your device."
            }
            Self::BadCharacter => {
                "That is not a valid code: codes use only the letters BCDFGHJKMNPQRSTVWXZ and the digits 2345679. Check the code shown on your device."
            }
        }
    }
}

impl UserCode {
    /// A new random user code.
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let code = (0..USER_CODE_LEN)
            .map(|_| {
                let i = rng.gen_range(0..USER_CODE_ALPHABET.len());
                char::from(USER_CODE_ALPHABET.get(i).copied().unwrap_or(b'B'))
            })
            .collect();
        Self(code)
    }

    /// Reads a code as a person typed it: any case, with or without the dash, with spaces.
    pub fn parse(typed: &str) -> Result<Self, UserCodeError> {
        let mut code = String::with_capacity(USER_CODE_LEN);
        for c in typed.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            // Bound the work on hostile input; the length check below refuses it anyway.
            if code.len() > USER_CODE_LEN {
                return Err(UserCodeError::WrongLength);
            }
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !USER_CODE_ALPHABET.contains(&(upper as u8)) {
                return Err(UserCodeError::BadCharacter);
            }
            code.push(upper);
        }
        match code.len() {
            0 => Err(UserCodeError::Empty),
            USER_CODE_LEN => Ok(Self(code)),
            _ => Err(UserCodeError::WrongLength),
        }
    }

    /// The canonical form, which is what gets hashed and stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }
}

/// The permission scopes a device authorization request gets.
///
/// UltraCart documents the `scope` of `/oauth/device/authorize` as an "application-level scope
/// (e.g., crm, ultraship)", not one of the permission scopes, and the real list of such labels is
/// not public. So any well-formed value is accepted, and: the values that are permission scopes
/// registered for the application narrow the request to those; if there are none (the usual
/// `scope=crm`), the request gets the application's registered scopes, as the code flow does
/// when `scope` is omitted. The merchant sees the resulting list on the consent screen, and the
/// token response's `scope` says what was granted.
pub fn requested_scopes(asked: &ScopeSet, registered: &ScopeSet) -> ScopeSet {
    let named: Vec<&str> = asked
        .names()
        .iter()
        .map(String::as_str)
        .filter(|s| registered.contains(s))
        .collect();
    if named.is_empty() {
        return registered.clone();
    }
    // Every name came from a valid set, so this cannot fail; fall back to the registered set.
    ScopeSet::from_names(named).unwrap_or_else(|_| registered.clone())
}

/// A device code as the store read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeviceCode {
    pub client_id: String,
    pub expires_at: Millis,
    /// The current minimum time between polls; grows on `slow_down`.
    pub interval_ms: Millis,
    pub last_polled_at: Option<Millis>,
    pub approved: bool,
    pub denied: bool,
    pub redeemed: bool,
    /// The grant an approval created has since been revoked.
    pub grant_revoked: bool,
}

/// What a poll of the token endpoint gets (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Approved: consume the device code and issue tokens.
    Redeem,
    /// `authorization_pending`: record the poll.
    Pending,
    /// `slow_down`: polled before `interval` had passed; the interval becomes `new_interval_ms`.
    SlowDown { new_interval_ms: Millis },
    /// Redeemed before: refuse (`invalid_grant`) and revoke the grant the first redemption used,
    /// as for a replayed authorization code.
    Replay,
    /// Refuse without side effects.
    Refuse(OauthError),
}

/// Decides a poll of `code` by `client_id` at `now`.
///
/// Terminal answers (wrong client, replay, expired, denied) come first so that a client learns
/// at once that it should stop; then the pace is checked, even when the merchant has approved,
/// so that polling too fast never pays; then approval.
pub fn poll(code: &StoredDeviceCode, client_id: &str, now: Millis) -> Poll {
    if code.client_id != client_id {
        return Poll::Refuse(OauthError::invalid_grant(
            "the device_code was not issued to this client_id",
        ));
    }
    if code.redeemed {
        return Poll::Replay;
    }
    if now >= code.expires_at {
        return Poll::Refuse(OauthError::new(
            super::OauthErrorKind::ExpiredToken,
            "the device_code has expired; start the device authorization again",
        ));
    }
    if code.denied {
        return Poll::Refuse(OauthError::new(
            super::OauthErrorKind::AccessDenied,
            "the merchant denied the authorization request",
        ));
    }
    if code.grant_revoked {
        return Poll::Refuse(OauthError::invalid_grant(
            "the authorization behind this device_code has been revoked",
        ));
    }
    if let Some(last) = code.last_polled_at {
        if now < last.saturating_add(code.interval_ms) {
            return Poll::SlowDown {
                new_interval_ms: code.interval_ms.saturating_add(SLOW_DOWN_STEP_MS),
            };
        }
    }
    if code.approved {
        Poll::Redeem
    } else {
        Poll::Pending
    }
}

/// The refusal for a [`Poll`] that is not a redemption.
pub fn pending_error() -> OauthError {
    OauthError::new(
        super::OauthErrorKind::AuthorizationPending,
        "authorization pending: the merchant has not yet approved the request",
    )
}

/// The `slow_down` refusal, naming the interval now in force.
pub fn slow_down_error(new_interval_ms: Millis) -> OauthError {
    OauthError::new(
        super::OauthErrorKind::SlowDown,
        format!(
            "polling too fast: wait at least {} seconds between requests for this device_code",
            new_interval_ms / 1000
        ),
    )
}

/// The refusal for a replayed device code.
pub fn replay_error() -> OauthError {
    OauthError::invalid_grant(
        "the device_code was already used; the tokens issued for it have been revoked",
    )
}

/// Why a user code cannot be approved or denied on the verification page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPending {
    Unknown,
    Expired,
    /// Approved or denied already (possibly in another browser).
    Decided,
}

impl NotPending {
    /// A message for the verification page.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unknown => {
                "That code was not recognized. Check it against the code shown on your device."
            }
            Self::Expired => {
                "That code has expired. Start the connection again on your device to get a new code."
            }
            Self::Decided => {
                "That code has already been used. Start the connection again on your device if it is not connected."
            }
        }
    }
}

/// Whether the verification page may still approve or deny `code` at `now`.
pub fn verification(code: Option<&StoredDeviceCode>, now: Millis) -> Result<(), NotPending> {
    let Some(code) = code else {
        return Err(NotPending::Unknown);
    };
    if code.approved || code.denied || code.redeemed {
        return Err(NotPending::Decided);
    }
    if now >= code.expires_at {
        return Err(NotPending::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OauthErrorKind;

    fn pending() -> StoredDeviceCode {
        StoredDeviceCode {
            client_id: "c1".into(),
            expires_at: 900_000,
            interval_ms: 5_000,
            last_polled_at: None,
            approved: false,
            denied: false,
            redeemed: false,
            grant_revoked: false,
        }
    }

    fn refused(p: Poll) -> OauthErrorKind {
        match p {
            Poll::Refuse(e) => e.kind,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn generated_user_codes_use_the_alphabet_and_parse_back() {
        for _ in 0..200 {
            let code = UserCode::generate();
            assert_eq!(code.as_str().len(), USER_CODE_LEN);
            assert!(code
                .as_str()
                .bytes()
                .all(|b| USER_CODE_ALPHABET.contains(&b)));
            assert_eq!(UserCode::parse(&code.display()), Ok(code));
        }
        assert_ne!(UserCode::generate(), UserCode::generate());
    }

    #[test]
    fn the_alphabet_has_no_look_alikes_and_no_vowels() {
        for c in b"0O1IL8AEUY" {
            assert!(!USER_CODE_ALPHABET.contains(c), "{}", char::from(*c));
        }
        assert_eq!(USER_CODE_ALPHABET.len(), 26);
    }

    #[test]
    fn typed_codes_are_read_in_any_case_with_or_without_the_dash() {
        let want = UserCode::parse("BCDF-GHJK").unwrap();
        for typed in ["bcdf-ghjk", "BCDFGHJK", " bcdf ghjk ", "Bc-Df-Gh-Jk"] {
            assert_eq!(UserCode::parse(typed).as_ref(), Ok(&want), "{typed:?}");
        }
        assert_eq!(want.display(), "BCDF-GHJK");
        assert_eq!(want.as_str(), "BCDFGHJK");
    }

    #[test]
    fn malformed_codes_say_what_is_wrong() {
        assert_eq!(UserCode::parse(""), Err(UserCodeError::Empty));
        assert_eq!(UserCode::parse(" - "), Err(UserCodeError::Empty));
        assert_eq!(UserCode::parse("BCDF-GHJ"), Err(UserCodeError::WrongLength));
        assert_eq!(
            UserCode::parse("BCDF-GHJKM"),
            Err(UserCodeError::WrongLength)
        );
        assert_eq!(
            UserCode::parse(&"B".repeat(10_000)),
            Err(UserCodeError::WrongLength)
        );
        for bad in [
            "BCDF-GHJ0",
            "OCDF-GHJK",
            "BCDF-GHJ1",
            "BCDF-GHJL",
            "BCDF-GHJÜ",
        ] {
            assert_eq!(
                UserCode::parse(bad),
                Err(UserCodeError::BadCharacter),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_pending_code_answers_authorization_pending() {
        assert_eq!(poll(&pending(), "c1", 0), Poll::Pending);
    }

    #[test]
    fn an_approved_code_redeems_once() {
        let approved = StoredDeviceCode {
            approved: true,
            ..pending()
        };
        assert_eq!(poll(&approved, "c1", 1), Poll::Redeem);
        let redeemed = StoredDeviceCode {
            redeemed: true,
            ..approved
        };
        assert_eq!(poll(&redeemed, "c1", 2), Poll::Replay);
    }

    #[test]
    fn polling_before_the_interval_slows_down_by_five_seconds() {
        let polled = StoredDeviceCode {
            last_polled_at: Some(10_000),
            ..pending()
        };
        assert_eq!(
            poll(&polled, "c1", 14_999),
            Poll::SlowDown {
                new_interval_ms: 10_000
            }
        );
        assert_eq!(poll(&polled, "c1", 15_000), Poll::Pending);
        let slowed = StoredDeviceCode {
            interval_ms: 10_000,
            ..polled
        };
        assert_eq!(
            poll(&slowed, "c1", 19_999),
            Poll::SlowDown {
                new_interval_ms: 15_000
            }
        );
        // Approval does not excuse polling too fast.
        let approved = StoredDeviceCode {
            approved: true,
            ..slowed
        };
        assert!(matches!(
            poll(&approved, "c1", 12_000),
            Poll::SlowDown { .. }
        ));
        assert_eq!(poll(&approved, "c1", 20_000), Poll::Redeem);
    }

    #[test]
    fn denial_expiry_and_revocation_are_terminal() {
        let denied = StoredDeviceCode {
            denied: true,
            last_polled_at: Some(0),
            ..pending()
        };
        // Even when polled too fast: a client should learn at once that it can stop.
        assert_eq!(
            refused(poll(&denied, "c1", 1)),
            OauthErrorKind::AccessDenied
        );
        assert_eq!(
            refused(poll(&pending(), "c1", 900_000)),
            OauthErrorKind::ExpiredToken
        );
        let approved_late = StoredDeviceCode {
            approved: true,
            ..pending()
        };
        assert_eq!(
            refused(poll(&approved_late, "c1", 900_001)),
            OauthErrorKind::ExpiredToken
        );
        let revoked = StoredDeviceCode {
            approved: true,
            grant_revoked: true,
            ..pending()
        };
        assert_eq!(
            refused(poll(&revoked, "c1", 1)),
            OauthErrorKind::InvalidGrant
        );
    }

    #[test]
    fn another_client_learns_nothing() {
        let approved = StoredDeviceCode {
            approved: true,
            ..pending()
        };
        assert_eq!(
            refused(poll(&approved, "c2", 1)),
            OauthErrorKind::InvalidGrant
        );
        let redeemed = StoredDeviceCode {
            redeemed: true,
            ..approved
        };
        assert_eq!(
            refused(poll(&redeemed, "c2", 1)),
            OauthErrorKind::InvalidGrant
        );
    }

    #[test]
    fn the_verification_page_acts_only_on_live_undecided_codes() {
        assert_eq!(verification(Some(&pending()), 1), Ok(()));
        assert_eq!(verification(None, 1), Err(NotPending::Unknown));
        assert_eq!(
            verification(Some(&pending()), 900_000),
            Err(NotPending::Expired)
        );
        for decided in [
            StoredDeviceCode {
                approved: true,
                ..pending()
            },
            StoredDeviceCode {
                denied: true,
                ..pending()
            },
        ] {
            assert_eq!(verification(Some(&decided), 1), Err(NotPending::Decided));
        }
    }

    #[test]
    fn application_level_scopes_get_the_registered_permissions() {
        let registered = ScopeSet::parse("item_read order_read").unwrap();
        let all = |asked: &str| requested_scopes(&ScopeSet::parse(asked).unwrap(), &registered);
        assert_eq!(all("crm"), registered);
        assert_eq!(all(""), registered);
        assert_eq!(all("crm ultraship"), registered);
        // A permission the application lacks is not granted, and does not narrow either.
        assert_eq!(all("item_write"), registered);
        // Registered permissions narrow the request.
        assert_eq!(all("crm order_read").to_wire(), "order_read");
        assert_eq!(all("order_read item_write").to_wire(), "order_read");
    }

    #[test]
    fn slow_down_names_the_new_interval() {
        assert!(slow_down_error(10_000).description.contains("10 seconds"));
        assert_eq!(pending_error().kind, OauthErrorKind::AuthorizationPending);
        assert_eq!(replay_error().kind, OauthErrorKind::InvalidGrant);
    }
}
