//! The `ucoauth` binary's management commands, run as a user would run them, against a real
//! SQLite file: `--json` output, exit statuses, and one-line errors.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use serde_json::Value;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        let cli = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = cli.run_stdin(
            &[
                "merchant",
                "create",
                "--merchant-id",
                "DEMO",
                "--name",
                "Demo Company",
                "--login",
                "demo",
                "--password-stdin",
            ],
            "correct horse battery\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cli
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ucoauth"))
            .args(args)
            .env(
                "UCOAUTH_DATABASE",
                format!("sqlite://{}/t.db", self.dir.path().display()),
            )
            .env_remove("UCOAUTH_PEPPER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, "")
    }

    /// Runs a command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its one-line message.
    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_stdin(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
        err
    }
}

#[test]
fn applications_are_updated_rotated_and_deleted_only_when_confirmed() {
    let cli = Cli::new();
    let app = cli.json(&[
        "app",
        "create",
        "--name",
        "My App",
        "--redirect-uri",
        "https://app.example/cb",
        "--scope",
        "item_read",
        "--merchant-id",
        "DEMO",
        "--json",
    ]);
    let client_id = app["client_id"].as_str().unwrap();
    let secret = app["client_secret"].as_str().unwrap();

    let updated = cli.json(&[
        "app",
        "update",
        client_id,
        "--name",
        "Renamed",
        "--scope",
        "item_read",
        "--scope",
        "order_read",
        "--require-pkce",
        "true",
        "--json",
    ]);
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(
        updated["scopes"],
        serde_json::json!(["item_read", "order_read"])
    );
    assert_eq!(updated["require_pkce"], true);
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://app.example/cb"])
    );
    assert!(updated.get("client_secret").is_none());

    let err = cli.fails(
        &[
            "app",
            "update",
            client_id,
            "--redirect-uri",
            "http://app.example/cb",
        ],
        "",
    );
    assert!(err.contains("must use https"), "{err}");

    let rotated = cli.json(&["app", "rotate-secret", client_id, "--json"]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        rotated["client_secret_hint"],
        format!("…{}", &new_secret[60..])
    );

    let err = cli.fails(&["app", "delete", client_id], "");
    assert!(err.contains("run again with --yes"), "{err}");
    assert!(cli.run(&["app", "show", client_id]).status.success());
    let deleted = cli.json(&["app", "delete", client_id, "--yes", "--json"]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["revoked_grants"], 0);
    let err = cli.fails(&["app", "show", client_id], "");
    assert!(err.contains("no application with client_id"), "{err}");
    let listed = cli.json(&["app", "list", "--merchant-id", "DEMO", "--json"]);
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn keys_users_and_grants_are_managed_with_clear_errors() {
    let cli = Cli::new();
    let key = cli.json(&[
        "key",
        "create",
        "--merchant-id",
        "DEMO",
        "--name",
        "export",
        "--scope",
        "order_read",
        "--json",
    ]);
    assert_eq!(key["key"].as_str().unwrap().len(), 64);
    let key_id = key["key_id"].as_str().unwrap();
    let keys = cli.json(&["key", "list", "--merchant-id", "DEMO", "--json"]);
    assert_eq!(keys[0]["key_id"], key_id);
    assert!(keys[0].get("key").is_none());
    cli.json(&["key", "revoke", key_id, "--json"]);
    let err = cli.fails(&["key", "revoke", key_id], "");
    assert!(err.contains("no live API key"), "{err}");
    let err = cli.fails(
        &[
            "key",
            "create",
            "--merchant-id",
            "NOPE",
            "--name",
            "k",
            "--scope",
            "a",
        ],
        "",
    );
    assert!(err.contains("no merchant \"NOPE\""), "{err}");

    let added = cli.run_stdin(
        &[
            "user",
            "add",
            "--merchant-id",
            "DEMO",
            "--login",
            "ann",
            "--password-stdin",
            "--json",
        ],
        "ann's long password\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let err = cli.fails(
        &[
            "user",
            "add",
            "--merchant-id",
            "DEMO",
            "--login",
            "ann",
            "--password-stdin",
        ],
        "another long password\n",
    );
    assert!(err.contains("login: ann is already taken"), "{err}");
    let err = cli.fails(
        &[
            "user",
            "add",
            "--merchant-id",
            "DEMO",
            "--login",
            "bo",
            "--password-stdin",
        ],
        "",
    );
    assert!(err.contains("no password on standard input"), "{err}");
    let out = cli.run_stdin(
        &["user", "passwd", "ann", "--password-stdin", "--json"],
        "a new password\n",
    );
    assert!(out.status.success());
    let err = cli.fails(&["user", "passwd", "ann", "--password-stdin"], "short\n");
    assert!(
        err.contains("password: must be at least 8 characters"),
        "{err}"
    );
    let users = cli.json(&["user", "list", "--merchant-id", "DEMO", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 2);
    cli.json(&["user", "remove", "ann", "--json"]);
    let err = cli.fails(&["user", "remove", "demo"], "");
    assert!(err.contains("only user"), "{err}");
    let err = cli.fails(&["user", "remove", "ghost"], "");
    assert!(err.contains("no user with login \"ghost\""), "{err}");

    assert_eq!(
        cli.json(&["grant", "list", "--merchant-id", "DEMO", "--json"]),
        serde_json::json!([])
    );
    let err = cli.fails(&["grant", "revoke", "0123"], "");
    assert!(err.contains("no live authorization"), "{err}");
}

#[test]
fn every_new_command_explains_itself_with_an_example() {
    for args in [
        ["app", "update"],
        ["app", "rotate-secret"],
        ["app", "delete"],
        ["grant", "list"],
        ["grant", "revoke"],
        ["key", "create"],
        ["key", "revoke"],
        ["user", "add"],
        ["user", "remove"],
        ["user", "passwd"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ucoauth"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("\nEXAMPLES\n"), "{args:?}: {help}");
        assert!(
            help.contains(&format!("ucoauth {} {}", args[0], args[1])),
            "{help}"
        );
    }
}
