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
}

/// Where a request came from, carried into the store so events can name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub client_ip: Option<String>,
}
