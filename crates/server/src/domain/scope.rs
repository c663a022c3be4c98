//! Scopes: parsing, the well-formedness rule of RFC 6749 §3.3, and set comparisons.

use super::OauthError;

/// Longest scope name accepted.
const MAX_SCOPE_LEN: usize = 100;
/// Most scopes one request or application may carry.
const MAX_SCOPES: usize = 200;

/// A set of scope names, deduplicated, in first-seen order (so responses read like requests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_well_formed(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SCOPE_LEN
        && name
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ScopeSet {
    /// Parses a space-delimited scope string (as sent in `scope=`).
    pub fn parse(text: &str) -> Result<Self, OauthError> {
        Self::from_names(text.split(' ').filter(|s| !s.is_empty()))
    }

    /// Builds a set from individual names, refusing malformed ones.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, OauthError> {
        let mut set = Vec::new();
        for name in names {
            if !is_well_formed(name) {
                return Err(OauthError::invalid_scope(format!(
                    "scope {name:?} is not a valid scope name (RFC 6749 §3.3)"
                )));
            }
            if !set.iter().any(|s: &String| s == name) {
                set.push(name.to_owned());
            }
        }
        if set.len() > MAX_SCOPES {
            return Err(OauthError::invalid_scope(format!(
                "at most {MAX_SCOPES} scopes may be requested"
            )));
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|s| s == name)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// Scopes of `self` that are not in `allowed`.
    pub fn outside<'a>(&'a self, allowed: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(|s| !allowed.contains(s))
            .map(String::as_str)
    }

    /// The space-delimited wire form.
    pub fn to_wire(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_on_spaces_and_removes_duplicates() {
        let s = ScopeSet::parse("item_read  order_read item_read").unwrap();
        assert_eq!(s.names(), ["item_read", "order_read"]);
        assert_eq!(s.to_wire(), "item_read order_read");
    }

    #[test]
    fn unknown_but_well_formed_names_are_accepted() {
        assert!(ScopeSet::parse("datawarehouse_read").is_ok());
    }

    #[test]
    fn quotes_backslashes_and_controls_are_refused() {
        for bad in ["a\"b", "a\\b", "a\tb", "ü"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subset_checks() {
        let app = ScopeSet::parse("item_read order_read").unwrap();
        let asked = ScopeSet::parse("item_read").unwrap();
        assert!(asked.is_subset_of(&app));
        let wider = ScopeSet::parse("item_read item_write").unwrap();
        assert!(!wider.is_subset_of(&app));
        assert_eq!(wider.outside(&app).collect::<Vec<_>>(), ["item_write"]);
    }
}
