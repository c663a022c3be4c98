//! The client's address, as a rate-limit key.
//!
//! It is the TCP peer address that `serve()` records (`into_make_service_with_connect_info`).
//! Behind a reverse proxy every request shares the proxy's address, so the per-IP limits then
//! act as one shared limit; `X-Forwarded-For` is deliberately not trusted, since any client can
//! set it. IPv6 clients are keyed by their /64, the block one subscriber usually holds, so an
//! attacker cannot get a fresh counter per address.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

/// The rate-limit key of the client's address; `"unknown"` when the server was started
/// without connection info (then every such client shares one counter: failing closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn from_addr(addr: Option<IpAddr>) -> Self {
        Self(match addr.map(canonical) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "unknown".to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address for the audit trail (absent when unknown).
    pub fn audit_ip(&self) -> Option<String> {
        (self.0 != "unknown").then(|| self.0.clone())
    }

    pub fn origin(&self) -> crate::domain::audit::Origin {
        crate::domain::audit::Origin {
            client_ip: self.audit_ip(),
            actor: None,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        Ok(Self::from_addr(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_is_kept_v6_is_keyed_by_its_64_and_mapped_v4_is_v4() {
        let key = |s: &str| ClientIp::from_addr(Some(s.parse().unwrap())).0;
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(ClientIp::from_addr(None).0, "unknown");
    }
}
