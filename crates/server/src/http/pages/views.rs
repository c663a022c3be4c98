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
    pub redirect_host: String,
    pub login: String,
    pub merchant_id: String,
    /// `(scope, description)`.
    pub scopes: Vec<(String, String)>,
    pub form_action: String,
    pub csrf_token: String,
    /// The authorization request's parameters, carried to the decision POST.
    pub hidden: Vec<(String, String)>,
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
                login: "l".into(),
                merchant_id: "DEMO".into(),
                scopes: vec![("item_read".into(), "reads".into())],
                form_action: "/rest/v2/oauth/authorize".into(),
                csrf_token: "t".into(),
                hidden: vec![("state".into(), evil.clone())],
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
