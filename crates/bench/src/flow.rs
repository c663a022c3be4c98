//! The OAuth flow as the load generator plays it: sign in once, then mint codes through the
//! consent form and exchange them, all through the real HTTP API.

use anyhow::{bail, Context};

use crate::http::{Conn, Reply};

pub const REDIRECT_URI: &str = "https://bench.example/callback";

/// What every worker needs to drive the flow.
#[derive(Clone)]
pub struct Session {
    pub client_id: String,
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="<field>" value="..."` in a page.
fn hidden(html: &str, field: &str) -> Option<String> {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

fn cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// Signs in through the login form and reads the consent form's CSRF token.
pub async fn sign_in(
    conn: &mut Conn,
    client_id: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<Session> {
    let page = conn.get("/login", None).await?;
    let html = String::from_utf8_lossy(&page.body);
    let csrf = hidden(&html, "csrf_token").context("no csrf_token on /login")?;
    conn.cookie = cookie(&page, "ucoauth_login");
    let signed = conn
        .post_form(
            "/login",
            &[
                ("login", login),
                ("password", password),
                ("csrf_token", &csrf),
            ],
        )
        .await?;
    let session = cookie(&signed, "ucoauth_session").context("sign-in did not set a session")?;
    conn.cookie = Some(session.clone());
    let consent = conn.get(&authorize_path(client_id), None).await?;
    if consent.status != 200 {
        bail!("consent page answered {}", consent.status);
    }
    let csrf = hidden(&String::from_utf8_lossy(&consent.body), "csrf_token")
        .context("no csrf_token on the consent page")?;
    Ok(Session {
        client_id: client_id.to_owned(),
        cookie: session,
        csrf,
    })
}

pub fn authorize_path(client_id: &str) -> String {
    format!(
        "/rest/v2/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={}&state=bench",
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    )
}

/// Approves on the consent form; returns the code from the 303.
pub async fn approve(conn: &mut Conn, s: &Session) -> anyhow::Result<String> {
    let reply = conn
        .post_form(
            "/rest/v2/oauth/authorize",
            &[
                ("csrf_token", &s.csrf),
                ("response_type", "code"),
                ("client_id", &s.client_id),
                ("redirect_uri", REDIRECT_URI),
                ("state", "bench"),
                ("decision", "approve"),
            ],
        )
        .await?;
    let location = reply
        .location
        .context("the consent POST did not redirect")?;
    let url = url::Url::parse(&location)?;
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {location}"))
}

/// Exchanges a code; returns (access_token, refresh_token).
pub async fn exchange(
    conn: &mut Conn,
    client_id: &str,
    code: &str,
) -> anyhow::Result<(String, String)> {
    let reply = conn
        .post_form(
            "/rest/v2/oauth/token",
            &[
                ("client_id", client_id),
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await?;
    tokens(&reply)
}

pub fn tokens(reply: &Reply) -> anyhow::Result<(String, String)> {
    if reply.status != 200 {
        bail!(
            "token endpoint answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let body = reply.json()?;
    let access = body["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .context("no refresh_token")?
        .to_owned();
    Ok((access, refresh))
}
