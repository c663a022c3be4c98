//! Profiles (product.md §1): `compat` behaves like UltraCart so its SDKs work unchanged;
//! `strict` is the OAuth 2.1 / RFC 9700 profile.

use std::{fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    Compat,
    Strict,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compat => "compat",
            Self::Strict => "strict",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "compat" => Ok(Self::Compat),
            "strict" => Ok(Self::Strict),
            other => Err(format!(
                "unknown profile {other:?}; expected \"compat\" or \"strict\""
            )),
        }
    }
}

/// The rules in force for one application, from the server profile, the application's own
/// profile override and its switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Every code grant needs a PKCE challenge.
    pub require_pkce: bool,
    /// `code_challenge_method=plain` is accepted.
    pub allow_plain_pkce: bool,
    /// The token and revoke endpoints need the client secret.
    pub require_secret: bool,
    /// `redirect_uri` must be sent to the token endpoint even if it was omitted at authorize.
    pub require_redirect_uri_at_token: bool,
}

impl Policy {
    pub fn new(
        server: Profile,
        app_override: Option<Profile>,
        require_pkce: bool,
        require_secret: bool,
    ) -> Self {
        match app_override.unwrap_or(server) {
            Profile::Compat => Self {
                require_pkce,
                allow_plain_pkce: true,
                require_secret,
                require_redirect_uri_at_token: false,
            },
            Profile::Strict => Self {
                require_pkce: true,
                allow_plain_pkce: false,
                require_secret: true,
                require_redirect_uri_at_token: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_follows_the_application_switches() {
        let p = Policy::new(Profile::Compat, None, false, false);
        assert!(!p.require_pkce && !p.require_secret && p.allow_plain_pkce);
        let p = Policy::new(Profile::Compat, None, true, true);
        assert!(p.require_pkce && p.require_secret);
    }

    #[test]
    fn strict_on_the_server_or_the_application_closes_everything() {
        for p in [
            Policy::new(Profile::Strict, None, false, false),
            Policy::new(Profile::Compat, Some(Profile::Strict), false, false),
        ] {
            assert!(p.require_pkce && p.require_secret && !p.allow_plain_pkce);
            assert!(p.require_redirect_uri_at_token);
        }
    }
}
