//! The token file: the connections `ucoauth connect` made, one per (base URL, client_id).
//!
//! Where: `--token-file` / `UCOAUTH_TOKEN_FILE`, else `$XDG_CONFIG_HOME/ucoauth/tokens.json`,
//! else `~/.config/ucoauth/tokens.json`. The file holds live credentials, so:
//! - it is created readable and writable by the user only (0600), in a directory created 0700;
//! - every write goes to a new 0600 file in the same directory, is flushed to disk, and then
//!   renamed over the old one, so a crash leaves either the old or the new file, never half;
//! - commands that may change it hold an OS lock on `tokens.json.lock` from reading to writing,
//!   so two `ucoauth` processes never refresh the same refresh token (the server would see
//!   that as reuse and revoke the grant) or lose each other's entries.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context};
use fd_lock::{RwLock, RwLockWriteGuard};
use serde::{Deserialize, Serialize};
use ucoauth_sdk::TokenSet;

/// The format version this build writes and reads.
const VERSION: u32 = 1;

/// One saved connection: which server and application, whom it is connected to, the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The API base URL, normalised (see [`super::normalize_base_url`]).
    pub base_url: String,
    pub client_id: String,
    /// The merchant's name as `/oauth/me` reported it at connect time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    /// The application's name as `/oauth/me` reported it at connect time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// When the connection was made, in seconds since the Unix epoch.
    pub connected_at: u64,
    pub tokens: TokenSet,
}

impl Connection {
    pub fn new(base_url: String, client_id: String, tokens: TokenSet) -> Self {
        Self {
            base_url,
            client_id,
            merchant_name: None,
            application_name: None,
            connected_at: epoch_seconds(SystemTime::now()),
            tokens,
        }
    }

    fn same_key(&self, base_url: &str, client_id: &str) -> bool {
        self.base_url == base_url && self.client_id == client_id
    }

    /// One line naming the connection, for lists and error messages.
    pub fn label(&self) -> String {
        let merchant = match (&self.tokens.merchant_id, &self.merchant_name) {
            (Some(id), Some(name)) => format!(" (merchant {id}, {name})"),
            (Some(id), None) => format!(" (merchant {id})"),
            _ => String::new(),
        };
        format!(
            "--base-url {} --client-id {}{merchant}",
            self.base_url, self.client_id
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Contents {
    version: u32,
    #[serde(default)]
    connections: Vec<Connection>,
}

/// The token file at a known path.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

/// The cross-process lock of a token file; lock it with [`FileLock::acquire`].
pub struct FileLock {
    lock: RwLock<File>,
    path: PathBuf,
}

impl FileLock {
    /// Waits until no other `ucoauth` process holds the lock, then holds it until the guard is
    /// dropped (the OS also releases it if this process dies).
    pub fn acquire(&mut self) -> anyhow::Result<RwLockWriteGuard<'_, File>> {
        let busy = match self.lock.try_write() {
            Ok(_probe) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot lock {}", self.path.display()))
            }
        };
        if busy {
            eprintln!(
                "Waiting for another ucoauth command that is using {} ...",
                self.path.display()
            );
        }
        let path = self.path.clone();
        let lock = &mut self.lock;
        // The wait blocks this thread; tell the runtime so other tasks move elsewhere.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let guard = if multi_thread {
            tokio::task::block_in_place(|| lock.write())
        } else {
            lock.write()
        };
        guard.with_context(|| format!("cannot lock {}", path.display()))
    }
}

impl TokenFile {
    /// `explicit` (from `--token-file` / `UCOAUTH_TOKEN_FILE`) or the default location.
    pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(path) = explicit {
            if path.as_os_str().is_empty() {
                bail!("--token-file (UCOAUTH_TOKEN_FILE) is empty; name a file");
            }
            return Ok(Self { path });
        }
        let config_dir = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
            // The XDG spec says relative values are invalid and must be ignored.
            Some(dir) if dir.is_absolute() => dir,
            _ => match std::env::var_os("HOME").map(PathBuf::from) {
                Some(home) if home.is_absolute() => home.join(".config"),
                _ => bail!(
                    "cannot tell where to keep tokens: neither XDG_CONFIG_HOME nor HOME is set; \
                     pass --token-file FILE (or set UCOAUTH_TOKEN_FILE)"
                ),
            },
        };
        Ok(Self {
            path: config_dir.join("ucoauth").join("tokens.json"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock for this file (`<file>.lock` beside it), creating the directory if needed.
    pub fn lock(&self) -> anyhow::Result<FileLock> {
        self.create_dir()?;
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
        Ok(FileLock {
            lock: RwLock::new(file),
            path: lock_path,
        })
    }

    /// Every saved connection; none when the file does not exist yet.
    pub fn load(&self) -> anyhow::Result<Vec<Connection>> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the token file {}", self.path.display()))
            }
        };
        self.warn_if_readable_by_others();
        let contents: Contents = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the token file {} is not one ucoauth wrote; repair it or move it away",
                self.path.display()
            )
        })?;
        if contents.version != VERSION {
            bail!(
                "the token file {} has format version {}, this ucoauth reads version {VERSION}; \
                 use the ucoauth that wrote it, or another --token-file",
                self.path.display(),
                contents.version
            );
        }
        Ok(contents.connections)
    }

    /// Adds `connection`, replacing the one with the same base URL and client_id.
    pub fn upsert(&self, connection: Connection) -> anyhow::Result<()> {
        let mut connections = self.load()?;
        connections.retain(|c| !c.same_key(&connection.base_url, &connection.client_id));
        connections.push(connection);
        self.write(connections)
    }

    /// Replaces the tokens of the connection (base URL, client_id), keeping the rest.
    pub fn update_tokens(
        &self,
        base_url: &str,
        client_id: &str,
        tokens: &TokenSet,
    ) -> anyhow::Result<()> {
        let mut connections = self.load()?;
        let Some(connection) = connections
            .iter_mut()
            .find(|c| c.same_key(base_url, client_id))
        else {
            bail!(
                "the connection --base-url {base_url} --client-id {client_id} disappeared from {} \
                 while it was being refreshed",
                self.path.display()
            );
        };
        connection.tokens = tokens.clone();
        self.write(connections)
    }

    /// Removes the connection (base URL, client_id); false if there was none.
    pub fn remove(&self, base_url: &str, client_id: &str) -> anyhow::Result<bool> {
        let mut connections = self.load()?;
        let before = connections.len();
        connections.retain(|c| !c.same_key(base_url, client_id));
        if connections.len() == before {
            return Ok(false);
        }
        self.write(connections)?;
        Ok(true)
    }

    /// Writes the whole file: new 0600 file, fsync, rename over, fsync the directory.
    fn write(&self, connections: Vec<Connection>) -> anyhow::Result<()> {
        let dir = self.create_dir()?;
        let contents = Contents {
            version: VERSION,
            connections,
        };
        let mut json = serde_json::to_vec_pretty(&contents)?;
        json.push(b'\n');
        let fail = || format!("cannot write the token file {}", self.path.display());
        // tempfile creates the file with mode 0600 and a name nobody else can predict.
        let mut temp = tempfile::Builder::new()
            .prefix(".tokens-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(fail)?;
        temp.write_all(&json).with_context(fail)?;
        temp.as_file().sync_all().with_context(fail)?;
        temp.persist(&self.path)
            .map_err(|e| e.error)
            .with_context(fail)?;
        #[cfg(unix)]
        if let Ok(dir) = File::open(&dir) {
            // Makes the rename itself durable; not every filesystem supports it.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The file's directory, created (0700) if missing.
    fn create_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        Ok(dir)
    }

    fn warn_if_readable_by_others(&self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = fs::metadata(&self.path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    eprintln!(
                        "warning: the token file {} has mode {mode:o}: other users may read your \
                         tokens. Run `chmod 600 {}`; ucoauth writes it 0600 from now on.",
                        self.path.display(),
                        self.path.display()
                    );
                }
            }
        }
    }
}

/// The one connection that matches the filters (each optional), or an error saying what to pass.
pub fn select<'a>(
    connections: &'a [Connection],
    base_url: Option<&str>,
    client_id: Option<&str>,
    file: &Path,
) -> anyhow::Result<&'a Connection> {
    let matching: Vec<&Connection> = connections
        .iter()
        .filter(|c| base_url.is_none_or(|b| c.base_url == b))
        .filter(|c| client_id.is_none_or(|id| c.client_id == id))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] if connections.is_empty() => bail!(
            "no saved connection in {}; make one with `ucoauth connect --base-url URL --client-id ID`",
            file.display()
        ),
        [] => bail!(
            "no saved connection matches{}{}; saved in {}:\n{}",
            base_url.map(|b| format!(" --base-url {b}")).unwrap_or_default(),
            client_id.map(|c| format!(" --client-id {c}")).unwrap_or_default(),
            file.display(),
            list(connections.iter())
        ),
        several => bail!(
            "{} saved connections match; choose one with --base-url and --client-id:\n{}",
            several.len(),
            list(several.iter().copied())
        ),
    }
}

fn list<'a>(connections: impl Iterator<Item = &'a Connection>) -> String {
    connections
        .map(|c| format!("  {}", c.label()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whole seconds since the Unix epoch.
pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use ucoauth_sdk::{AccessToken, RefreshToken};

    use super::*;

    fn tokens(access: &str) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new(access),
            refresh_token: Some(RefreshToken::new(format!("r-{access}"))),
            scope: Some("item_read".into()),
            merchant_id: Some("DEMO".into()),
            expires_at: None,
        }
    }

    #[test]
    fn entries_are_keyed_by_base_url_and_client_id_and_written_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::locate(Some(dir.path().join("sub/dir/tokens.json"))).unwrap();
        assert!(file.load().unwrap().is_empty());
        file.upsert(Connection::new(
            "http://a/rest/v2".into(),
            "c1".into(),
            tokens("a1"),
        ))
        .unwrap();
        file.upsert(Connection::new(
            "http://b/rest/v2".into(),
            "c1".into(),
            tokens("b1"),
        ))
        .unwrap();
        file.upsert(Connection::new(
            "http://a/rest/v2".into(),
            "c1".into(),
            tokens("a2"),
        ))
        .unwrap();
        let saved = file.load().unwrap();
        assert_eq!(saved.len(), 2);
        let a = select(&saved, Some("http://a/rest/v2"), None, file.path()).unwrap();
        assert_eq!(a.tokens.access_token.secret(), "a2");
        file.update_tokens("http://b/rest/v2", "c1", &tokens("b2"))
            .unwrap();
        let saved = file.load().unwrap();
        let b = select(&saved, None, Some("c1"), file.path());
        assert!(b
            .unwrap_err()
            .to_string()
            .contains("2 saved connections match"));
        let b = select(&saved, Some("http://b/rest/v2"), Some("c1"), file.path()).unwrap();
        assert_eq!(b.tokens.access_token.secret(), "b2");
        assert!(file.remove("http://a/rest/v2", "c1").unwrap());
        assert!(!file.remove("http://a/rest/v2", "c1").unwrap());
        let saved = file.load().unwrap();
        assert_eq!(
            select(&saved, None, None, file.path()).unwrap().base_url,
            "http://b/rest/v2"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(dir.path().join("sub/dir"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        // Only the file and its lock stay behind: no temporary files.
        let _lock = file.lock().unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path().join("sub/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["tokens.json", "tokens.json.lock"]);
    }

    #[test]
    fn selection_errors_say_what_to_pass() {
        let file = Path::new("/t/tokens.json");
        let err = select(&[], None, None, file).unwrap_err().to_string();
        assert!(err.contains("ucoauth connect"), "{err}");
        let one = [Connection::new(
            "http://a/rest/v2".into(),
            "c1".into(),
            tokens("x"),
        )];
        let err = select(&one, None, Some("c2"), file)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--client-id c2") && err.contains("--client-id c1"),
            "{err}"
        );
        assert!(err.contains("merchant DEMO"), "{err}");
    }

    #[test]
    fn garbage_and_future_versions_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let file = TokenFile::locate(Some(path.clone())).unwrap();
        fs::write(&path, "{not json").unwrap();
        let err = format!("{:#}", file.load().unwrap_err());
        assert!(
            err.contains("tokens.json") && err.contains("not one ucoauth wrote"),
            "{err}"
        );
        fs::write(&path, r#"{"version":7,"connections":[]}"#).unwrap();
        let err = format!("{:#}", file.load().unwrap_err());
        assert!(err.contains("version 7"), "{err}");
    }

    #[test]
    fn an_empty_explicit_path_is_refused() {
        assert!(TokenFile::locate(Some(PathBuf::new())).is_err());
    }
}
