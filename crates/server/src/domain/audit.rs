//! Audit events: what happened, to which merchant, application and grant, from which address.
//! Never a credential.

/// The kinds of event recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    ConsentGiven,
    ConsentDenied,
    CodeIssued,
    CodeRedeemed,
    CodeReplayed,
    TokenRefreshed,
    RefreshReuseDetected,
    GrantRevoked,
    ApplicationCreated,
    ApplicationChanged,
    ApplicationDeleted,
    SecretRotated,
    LoginSucceeded,
    LoginFailed,
    /// A device asked for authorization (RFC 8628 §3.1); a device and user code were issued.
    DeviceAuthorizationRequested,
    /// The merchant approved a user code on the verification page (a grant was created).
    DeviceApproved,
    /// The merchant denied a user code on the verification page.
    DeviceDenied,
    /// An approved device code was redeemed: tokens were issued.
    DeviceCodeRedeemed,
    /// A device code was presented again after it was redeemed; its grant is revoked.
    DeviceCodeReplayed,
    /// A device polled with a code past its lifetime (recorded once per code).
    DeviceCodeExpired,
    ApiKeyCreated,
    ApiKeyRevoked,
    /// In user events `user_id` is the user concerned; the actor is in `detail`.
    UserAdded,
    UserRemoved,
    PasswordChanged,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentGiven => "consent.given",
            Self::ConsentDenied => "consent.denied",
            Self::CodeIssued => "code.issued",
            Self::CodeRedeemed => "code.redeemed",
            Self::CodeReplayed => "code.replayed",
            Self::TokenRefreshed => "token.refreshed",
            Self::RefreshReuseDetected => "refresh.reuse_detected",
            Self::GrantRevoked => "grant.revoked",
            Self::ApplicationCreated => "application.created",
            Self::ApplicationChanged => "application.changed",
            Self::ApplicationDeleted => "application.deleted",
            Self::SecretRotated => "application.secret_rotated",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::DeviceAuthorizationRequested => "device.authorization_requested",
            Self::DeviceApproved => "device.approved",
            Self::DeviceDenied => "device.denied",
            Self::DeviceCodeRedeemed => "device.code_redeemed",
            Self::DeviceCodeReplayed => "device.code_replayed",
            Self::DeviceCodeExpired => "device.code_expired",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::UserAdded => "user.added",
            Self::UserRemoved => "user.removed",
            Self::PasswordChanged => "user.password_changed",
        }
    }
}

/// One event. Fields that do not apply stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: Option<AuditKind>,
    pub merchant_id: Option<String>,
    pub client_id: Option<String>,
    pub grant_id: Option<String>,
    pub user_id: Option<String>,
    pub client_ip: Option<String>,
    /// A short JSON object with anything else worth knowing (e.g. a revocation reason).
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind: Some(kind),
            ..Self::default()
        }
    }

    pub fn merchant(mut self, id: impl Into<String>) -> Self {
        self.merchant_id = Some(id.into());
        self
    }

    pub fn client(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    pub fn grant(mut self, id: impl Into<String>) -> Self {
        self.grant_id = Some(id.into());
        self
    }

    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.client_ip = ip;
        self
    }

    pub fn detail(mut self, json: serde_json::Value) -> Self {
        self.detail = Some(json.to_string());
        self
    }

    /// Names who made an administrative change: `"actor"` in `detail` (merged with what is
    /// there), the acting user in `user_id` unless the event already names a user, and the
    /// caller's address.
    pub fn by(mut self, actor: &Actor) -> Self {
        let mut detail = match self
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        detail.insert("actor".into(), serde_json::Value::String(actor.label()));
        self.detail = Some(serde_json::Value::Object(detail).to_string());
        if let (ActorKind::User(id), None) = (&actor.kind, &self.user_id) {
            self.user_id = Some(id.clone());
        }
        if self.client_ip.is_none() {
            self.client_ip.clone_from(&actor.client_ip);
        }
        self
    }
}

/// Who acts in an administrative operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// The operator, on the command line (direct database access).
    Operator,
    /// A signed-in merchant user (back-office pages or the admin API with a session): user id.
    User(String),
    /// A simple key on the admin API: key id.
    Key(String),
}

/// An administrative caller and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub client_ip: Option<String>,
}

impl Actor {
    pub fn operator() -> Self {
        Self {
            kind: ActorKind::Operator,
            client_ip: None,
        }
    }

    pub fn user(user_id: impl Into<String>, client_ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::User(user_id.into()),
            client_ip,
        }
    }

    pub fn key(key_id: impl Into<String>, client_ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::Key(key_id.into()),
            client_ip,
        }
    }

    /// `operator`, `user:<user_id>` or `key:<key_id>` (ids, never a credential).
    pub fn label(&self) -> String {
        match &self.kind {
            ActorKind::Operator => "operator".to_owned(),
            ActorKind::User(id) => format!("user:{id}"),
            ActorKind::Key(id) => format!("key:{id}"),
        }
    }
}

/// Where a request came from, carried into the store so events can name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub client_ip: Option<String>,
    /// Who asked, when an administrator (not the protocol) made the change.
    pub actor: Option<Actor>,
}

impl Origin {
    /// A change made by an administrator, from the actor's address.
    pub fn actor(actor: &Actor) -> Self {
        Self {
            client_ip: actor.client_ip.clone(),
            actor: Some(actor.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_merges_the_actor_into_detail_and_names_the_acting_user() {
        let event = AuditEvent::new(AuditKind::ApplicationDeleted)
            .detail(serde_json::json!({ "revoked_grants": 2 }))
            .by(&Actor::user("u1", Some("127.0.0.1".into())));
        let detail: serde_json::Value =
            serde_json::from_str(event.detail.as_deref().unwrap()).unwrap();
        assert_eq!(
            detail,
            serde_json::json!({ "revoked_grants": 2, "actor": "user:u1" })
        );
        assert_eq!(event.user_id.as_deref(), Some("u1"));
        assert_eq!(event.client_ip.as_deref(), Some("127.0.0.1"));
        // A user event keeps its subject; the operator has no address.
        let event = AuditEvent::new(AuditKind::UserRemoved)
            .user("u2")
            .by(&Actor::user("u1", None));
        assert_eq!(event.user_id.as_deref(), Some("u2"));
        let event = AuditEvent::new(AuditKind::ApiKeyCreated).by(&Actor::operator());
        assert_eq!(event.detail.as_deref(), Some(r#"{"actor":"operator"}"#));
        assert_eq!(event.client_ip, None);
    }

    #[test]
    fn kind_names_are_unique_and_dotted() {
        let kinds = [
            AuditKind::ConsentGiven,
            AuditKind::ConsentDenied,
            AuditKind::CodeIssued,
            AuditKind::CodeRedeemed,
            AuditKind::CodeReplayed,
            AuditKind::TokenRefreshed,
            AuditKind::RefreshReuseDetected,
            AuditKind::GrantRevoked,
            AuditKind::ApplicationCreated,
            AuditKind::ApplicationChanged,
            AuditKind::ApplicationDeleted,
            AuditKind::SecretRotated,
            AuditKind::LoginSucceeded,
            AuditKind::LoginFailed,
            AuditKind::DeviceAuthorizationRequested,
            AuditKind::DeviceApproved,
            AuditKind::DeviceDenied,
            AuditKind::DeviceCodeRedeemed,
            AuditKind::DeviceCodeReplayed,
            AuditKind::DeviceCodeExpired,
            AuditKind::ApiKeyCreated,
            AuditKind::ApiKeyRevoked,
            AuditKind::UserAdded,
            AuditKind::UserRemoved,
            AuditKind::PasswordChanged,
        ];
        let names: std::collections::HashSet<&str> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), kinds.len());
        for name in names {
            let (area, what) = name.split_once('.').unwrap();
            assert!(
                !area.is_empty() && !what.is_empty() && !what.contains('.'),
                "{name}"
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{name}"
            );
        }
    }
}
