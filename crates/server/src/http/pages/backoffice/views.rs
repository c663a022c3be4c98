//! The back-office templates' typed contexts.

use askama::Template;
use ucoauth_wire::scopes;

use super::{Chrome, Pager};
use crate::admin::FieldErrors;

/// A permission checkbox: a catalogue scope, its description, and whether it is ticked.
#[derive(Debug, Clone)]
pub struct ScopeChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

/// The catalogue as checkboxes with `selected` ticked, and the selected names that are not in
/// the catalogue (space-separated, for the "other permissions" field).
pub fn scope_choices(selected: &[String]) -> (Vec<ScopeChoice>, String) {
    let choices = scopes::CATALOGUE
        .iter()
        .enumerate()
        // The catalogue lists a few scopes twice (UltraCart's order); offer each once.
        .filter(|(i, (name, _))| !scopes::CATALOGUE[..*i].iter().any(|(n, _)| n == name))
        .map(|(_, (name, description))| ScopeChoice {
            name,
            description,
            checked: selected.iter().any(|s| s == name),
        })
        .collect();
    let other: Vec<&str> = selected
        .iter()
        .map(String::as_str)
        .filter(|s| scopes::describe(s).is_none())
        .collect();
    (choices, other.join(" "))
}

/// `(scope, description)` for display.
pub fn describe_all(names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|s| {
            (
                s.clone(),
                scopes::describe(s)
                    .unwrap_or("A permission not in UltraCart's catalogue.")
                    .to_owned(),
            )
        })
        .collect()
}

/// Field errors as the templates ask about them.
pub trait ErrorsExt {
    fn has(&self, field: &str) -> bool;
}

impl ErrorsExt for FieldErrors {
    fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

#[derive(Template)]
#[template(path = "backoffice/home.html")]
pub struct HomePage {
    pub chrome: Option<Chrome>,
}

/// The fields of the application form, as entered.
#[derive(Debug, Clone, Default)]
pub struct ApplicationForm {
    pub name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    /// One URI per line.
    pub redirect_uris: String,
    pub choices: Vec<ScopeChoice>,
    /// Permissions outside the catalogue, space-separated.
    pub other_scopes: String,
    pub require_secret: bool,
    pub require_pkce: bool,
}

pub struct AppRow {
    pub client_id: String,
    pub name: String,
    pub developer_name: String,
    pub redirect_uris: usize,
    pub scopes: usize,
    pub created: String,
}

#[derive(Template)]
#[template(path = "backoffice/applications.html")]
pub struct ApplicationsPage {
    pub chrome: Chrome,
    pub apps: Vec<AppRow>,
    pub pager: Pager,
}

/// Registering (`client_id: None`) or editing an application.
#[derive(Template)]
#[template(path = "backoffice/application.html")]
pub struct ApplicationPage {
    pub chrome: Chrome,
    pub client_id: Option<String>,
    pub secret_hint: String,
    pub created: String,
    pub updated: String,
    pub form: ApplicationForm,
    pub errors: FieldErrors,
}

/// A client secret or API key, shown this once.
#[derive(Template)]
#[template(path = "backoffice/secret.html")]
pub struct SecretPage {
    pub chrome: Chrome,
    pub title: String,
    pub intro: String,
    /// `(label, value, element id)` rows shown before the secret.
    pub facts: Vec<(String, String, String)>,
    pub secret_label: String,
    pub secret: String,
    pub continue_to: String,
}

#[derive(Template)]
#[template(path = "backoffice/application_delete.html")]
pub struct ApplicationDeletePage {
    pub chrome: Chrome,
    pub client_id: String,
    pub name: String,
    pub grants: i64,
}

pub struct GrantRow {
    pub grant_id: String,
    pub application_name: String,
    pub developer_name: String,
    pub scopes: Vec<(String, String)>,
    pub approved_by: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "backoffice/authorized.html")]
pub struct AuthorizedPage {
    pub chrome: Chrome,
    pub grants: Vec<GrantRow>,
    pub pager: Pager,
}

pub struct KeyRow {
    pub key_id: String,
    pub name: String,
    pub hint: String,
    pub scopes: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "backoffice/keys.html")]
pub struct KeysPage {
    pub chrome: Chrome,
    pub keys: Vec<KeyRow>,
    pub pager: Pager,
    pub name: String,
    pub choices: Vec<ScopeChoice>,
    pub other_scopes: String,
    pub errors: FieldErrors,
}

pub struct UserRow {
    pub user_id: String,
    pub login: String,
    pub created: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "backoffice/users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub pager: Pager,
    pub login: String,
    pub errors: FieldErrors,
    /// A refusal to show above the list (e.g. removing the last user).
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "backoffice/password.html")]
pub struct PasswordPage {
    pub chrome: Chrome,
    pub user_id: String,
    pub login: String,
    pub errors: FieldErrors,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::backoffice::Area;

    fn chrome() -> Chrome {
        Chrome {
            login: "<script>me</script>".into(),
            merchant_id: "DEMO".into(),
            csrf_token: "t".into(),
            area: Area::Applications,
            notice: Some("Saved."),
        }
    }

    #[test]
    fn the_catalogue_is_offered_once_per_scope_and_unknown_names_go_to_other() {
        let (choices, other) = scope_choices(&["item_read".into(), "custom_read".into()]);
        let item_read: Vec<_> = choices.iter().filter(|c| c.name == "item_read").collect();
        assert_eq!(item_read.len(), 1);
        assert!(item_read[0].checked);
        assert_eq!(other, "custom_read");
    }

    #[test]
    fn every_back_office_page_renders_and_escapes_its_input() {
        let evil = "<script>x</script>".to_owned();
        let mut errors = FieldErrors::default();
        errors.push("name", "name", evil.clone());
        let (choices, _) = scope_choices(&[]);
        let pager = Pager::new("/x", 1, 0);
        let pages = vec![
            HomePage {
                chrome: Some(chrome()),
            }
            .render()
            .unwrap(),
            ApplicationsPage {
                chrome: chrome(),
                apps: vec![AppRow {
                    client_id: "c".into(),
                    name: evil.clone(),
                    developer_name: "d".into(),
                    redirect_uris: 1,
                    scopes: 2,
                    created: "now".into(),
                }],
                pager: pager.clone(),
            }
            .render()
            .unwrap(),
            ApplicationPage {
                chrome: chrome(),
                client_id: Some("c".into()),
                secret_hint: "…abcd".into(),
                created: "now".into(),
                updated: "now".into(),
                form: ApplicationForm {
                    name: evil.clone(),
                    redirect_uris: evil.clone(),
                    choices: choices.clone(),
                    ..Default::default()
                },
                errors: errors.clone(),
            }
            .render()
            .unwrap(),
            SecretPage {
                chrome: chrome(),
                title: "t".into(),
                intro: "i".into(),
                facts: vec![("client_id".into(), evil.clone(), "client-id".into())],
                secret_label: "s".into(),
                secret: "v".into(),
                continue_to: "/".into(),
            }
            .render()
            .unwrap(),
            ApplicationDeletePage {
                chrome: chrome(),
                client_id: "c".into(),
                name: evil.clone(),
                grants: 2,
            }
            .render()
            .unwrap(),
            AuthorizedPage {
                chrome: chrome(),
                grants: vec![GrantRow {
                    grant_id: "g".into(),
                    application_name: evil.clone(),
                    developer_name: "d".into(),
                    scopes: vec![("item_read".into(), "reads".into())],
                    approved_by: "demo".into(),
                    created: "now".into(),
                    last_used: "never".into(),
                }],
                pager: pager.clone(),
            }
            .render()
            .unwrap(),
            KeysPage {
                chrome: chrome(),
                keys: vec![],
                pager: pager.clone(),
                name: evil.clone(),
                choices,
                other_scopes: String::new(),
                errors: errors.clone(),
            }
            .render()
            .unwrap(),
            UsersPage {
                chrome: chrome(),
                users: vec![],
                pager,
                login: evil.clone(),
                errors: errors.clone(),
                problem: Some(evil.clone()),
            }
            .render()
            .unwrap(),
            PasswordPage {
                chrome: chrome(),
                user_id: "u".into(),
                login: evil.clone(),
                errors,
            }
            .render()
            .unwrap(),
        ];
        for html in pages {
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        }
    }
}
