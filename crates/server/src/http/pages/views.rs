//! The page templates' typed contexts.

use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf_token: String,
    pub return_to: String,
    pub login: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub app_name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    /// Host the browser returns to after the decision; empty for the device flow.
    pub redirect_host: String,
    /// The device flow's user code, shown so the merchant can compare it with the device.
    pub device_user_code: Option<String>,
    pub login: String,
    pub merchant_id: String,
    /// `(scope, description)`.
    pub scopes: Vec<(String, String)>,
    pub form_action: String,
    pub csrf_token: String,
    /// The authorization request's parameters, carried to the decision POST.
    pub hidden: Vec<(String, String)>,
}

/// The device verification page: enter the code shown on the device.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePage {
    pub csrf_token: String,
    /// The code as typed or as it came in `verification_uri_complete`.
    pub user_code: String,
    pub error: Option<String>,
    /// The signed-in user, if any.
    pub login: Option<String>,
}

/// The end of the device flow in the browser.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage {
    pub title: String,
    pub message: String,
    pub hint: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub hint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_and_escapes_its_input() {
        let evil = "<script>x</script>".to_owned();
        let pages: Vec<String> = vec![
            LoginPage {
                csrf_token: "t".into(),
                return_to: "/".into(),
                login: evil.clone(),
                error: Some("bad".into()),
            }
            .render()
            .unwrap(),
            ConsentPage {
                app_name: evil.clone(),
                description: "d".into(),
                developer_name: "n".into(),
                developer_email: "e".into(),
                developer_url: "u".into(),
                redirect_host: "h".into(),
                device_user_code: Some(evil.clone()),
                login: "l".into(),
                merchant_id: "DEMO".into(),
                scopes: vec![("item_read".into(), "reads".into())],
                form_action: "/rest/v2/oauth/authorize".into(),
                csrf_token: "t".into(),
                hidden: vec![("state".into(), evil.clone())],
            }
            .render()
            .unwrap(),
            DevicePage {
                csrf_token: "t".into(),
                user_code: evil.clone(),
                error: Some(evil.clone()),
                login: Some(evil.clone()),
            }
            .render()
            .unwrap(),
            DeviceDonePage {
                title: evil.clone(),
                message: "m".into(),
                hint: "h".into(),
            }
            .render()
            .unwrap(),
            ErrorPage {
                title: "t".into(),
                message: evil.clone(),
                hint: "h".into(),
            }
            .render()
            .unwrap(),
        ];
        for html in pages {
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"));
        }
    }
}
