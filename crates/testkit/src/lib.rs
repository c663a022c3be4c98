//! Test support shared by ucoauth's integration suites (not published).
//!
//! - [`TestDatabase`]: a fresh, empty database on either backend: a SQLite file in a temporary
//!   directory, or a new schema (`CREATE SCHEMA test_<random>`, used through the connection's
//!   `search_path`) on a PostgreSQL server, dropped when the value is dropped.
//! - [`PgCluster`]: a throwaway PostgreSQL cluster (initdb into a temporary directory, run as an
//!   ordinary user on a free loopback port), for tests that must stop and start the database.
//!
//! - [`html`]: the hidden form fields and redirects a browser would follow.
//!
//! # Environment
//! - `UCOAUTH_TEST_BACKEND` = `sqlite` (default) or `postgres`: the backend of the suites that
//!   run once per backend (`crates/server/tests/api`). `scripts/test.sh` runs them twice.
//! - `UCOAUTH_TEST_POSTGRES` = `postgres://USER@HOST:PORT/postgres`: a server on which tests may
//!   create and drop schemas (`scripts/test.sh` starts a throwaway one and sets this). When it
//!   is unset, tests that need PostgreSQL start a private [`PgCluster`] if the server binaries
//!   are installed, and fail with instructions otherwise. `skip` skips them, loudly.

pub mod html;

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use rand::Rng;
use sqlx::{postgres::PgConnection, Connection, Row};

/// The database engines ucoauth runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Names the backend chosen by `UCOAUTH_TEST_BACKEND`.
pub fn backend_from_env() -> Backend {
    match std::env::var("UCOAUTH_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("UCOAUTH_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// Where PostgreSQL tests get their databases.
enum PostgresSource {
    Server(String),
    Skip,
    Unset,
}

fn postgres_source() -> PostgresSource {
    match std::env::var("UCOAUTH_TEST_POSTGRES").as_deref() {
        Err(_) | Ok("") => PostgresSource::Unset,
        Ok("skip") => PostgresSource::Skip,
        Ok(url) => PostgresSource::Server(url.to_owned()),
    }
}

/// Whether PostgreSQL tests were explicitly switched off (`UCOAUTH_TEST_POSTGRES=skip`). Tests
/// that honour it print what they skipped.
pub fn postgres_skipped(test: &str) -> bool {
    let skip = matches!(postgres_source(), PostgresSource::Skip);
    if skip {
        eprintln!("SKIPPED {test}: UCOAUTH_TEST_POSTGRES=skip");
    }
    skip
}

/// A fresh database for one test.
pub struct TestDatabase {
    /// The URL to give `Store::open` or `ucoauth --database`.
    pub url: String,
    pub backend: Backend,
    place: Place,
}

enum Place {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
        /// A private cluster started for this database, stopped when it is dropped.
        _cluster: Option<Arc<PgCluster>>,
    },
}

impl TestDatabase {
    /// A fresh database on the backend named by `UCOAUTH_TEST_BACKEND`.
    pub async fn from_env() -> Self {
        match backend_from_env() {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => match postgres_source() {
                PostgresSource::Server(url) => Self::postgres_on(&url, None).await,
                _ => panic!(
                    "UCOAUTH_TEST_BACKEND=postgres needs UCOAUTH_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres \
                     (a server where tests may create databases); scripts/test.sh starts one"
                ),
            },
        }
    }

    /// A fresh database on `backend`; `None` only when PostgreSQL tests were switched off with
    /// `UCOAUTH_TEST_POSTGRES=skip`.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => match postgres_source() {
                PostgresSource::Server(url) => Some(Self::postgres_on(&url, None).await),
                PostgresSource::Skip => {
                    eprintln!("SKIPPED: a PostgreSQL test (UCOAUTH_TEST_POSTGRES=skip)");
                    None
                }
                PostgresSource::Unset => {
                    let cluster = Arc::new(
                        tokio::task::spawn_blocking(PgCluster::start)
                            .await
                            .expect("starting PostgreSQL"),
                    );
                    Some(Self::postgres_on(&cluster.admin_url(), Some(cluster.clone())).await)
                }
            },
        }
    }

    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("ucoauth.db");
        Self {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            place: Place::Sqlite { path, _dir: dir },
        }
    }

    /// A new, empty schema on the PostgreSQL server at `admin_url`, and a URL whose connections
    /// use it (`options=-c search_path=<schema>`): as good as a fresh database for ucoauth, whose
    /// SQL never names a schema, and far cheaper than `CREATE DATABASE`.
    pub async fn postgres_on(admin_url: &str, cluster: Option<Arc<PgCluster>>) -> Self {
        let name = format!("test_{:016x}", rand::thread_rng().gen::<u64>());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server {admin_url}: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE SCHEMA {name}: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(admin_url).expect("UCOAUTH_TEST_POSTGRES is a URL");
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={name}"));
        Self {
            url: url.to_string(),
            backend: Backend::Postgres,
            place: Place::Postgres {
                admin_url: admin_url.to_owned(),
                name,
                _cluster: cluster,
            },
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite { path, .. } => Some(path),
            Place::Postgres { .. } => None,
        }
    }

    /// Everything the database holds, as bytes to search for plaintext: on SQLite the database
    /// file with its WAL and shared-memory files; on PostgreSQL every value of every column of
    /// every table (BYTEA values raw, everything else as text).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        let mut stored = Vec::new();
        match &self.place {
            Place::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
                        stored.extend_from_slice(&bytes);
                    }
                }
            }
            Place::Postgres { name: schema, .. } => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                let columns = sqlx::query(
                    "SELECT table_name::text, column_name::text, data_type::text \
                     FROM information_schema.columns WHERE table_schema = $1",
                )
                .bind(schema)
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for column in columns {
                    let (table, name, kind): (String, String, String) =
                        (column.get(0), column.get(1), column.get(2));
                    let cast = if kind == "bytea" { "" } else { "::text" };
                    let sql = format!("SELECT \"{name}\"{cast} FROM \"{table}\"");
                    for row in sqlx::query(&sql).fetch_all(&mut conn).await.unwrap() {
                        if kind == "bytea" {
                            if let Some(v) = row.get::<Option<Vec<u8>>, _>(0) {
                                stored.extend_from_slice(&v);
                            }
                        } else if let Some(v) = row.get::<Option<String>, _>(0) {
                            stored.extend_from_slice(v.as_bytes());
                        }
                        stored.push(0);
                    }
                }
                let _ = conn.close().await;
            }
        }
        stored
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Postgres {
            admin_url, name, ..
        } = &self.place
        else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop may run inside a runtime; a thread with its own runtime can block safely.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropper.join();
    }
}

/// A throwaway PostgreSQL cluster: its data directory lives in a temporary directory, it listens
/// on a free loopback port and a unix socket in that directory, and the superuser `ucoauth`
/// signs in without a password (trust, loopback only). Stopped and deleted on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Running as root: PostgreSQL refuses that, so its commands run as the `postgres` user.
    as_postgres: bool,
}

impl PgCluster {
    /// The newest installed server binaries: `UCOAUTH_PG_BIN`, else Debian's
    /// `/usr/lib/postgresql/<version>/bin`.
    pub fn bin_dir() -> Option<PathBuf> {
        if let Ok(dir) = std::env::var("UCOAUTH_PG_BIN") {
            return Some(PathBuf::from(dir));
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    }

    /// Creates and starts a cluster. Blocking (about a second); panics with what to install
    /// when the binaries are missing.
    pub fn start() -> Self {
        let bin = Self::bin_dir().unwrap_or_else(|| {
            panic!(
                "this test needs PostgreSQL: install Debian's postgresql package (.ci/run does), \
                 or set UCOAUTH_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres, \
                 or UCOAUTH_TEST_POSTGRES=skip to skip PostgreSQL tests"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("ucoauth-pg.")
            .tempdir()
            .expect("a temporary directory");
        let as_postgres = std::fs::metadata(dir.path()).map(|m| m.uid()).ok() == Some(0);
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.data_dir();
        run(cluster.command("initdb").arg("-D").arg(&data).args([
            "-U",
            "ucoauth",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]));
        cluster.start_again();
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `postgres://ucoauth@127.0.0.1:PORT/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://ucoauth@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) cluster on its port and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]));
    }

    /// Stops the cluster: `mode` is pg_ctl's `fast` (disconnect clients, clean shutdown) or
    /// `immediate` (like a crash; recovery on the next start).
    pub fn stop(&self, mode: &str) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "30", "stop"]));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
