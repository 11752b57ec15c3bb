use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    path::Path,
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use heyclaw_persistence::admin;

use crate::admin_database_url;

/// A database of its own for one test, named `heyclaw_test_<uuid>`, on the
/// server of [`admin_database_url`].
///
/// Dropped on drop, forcibly (`DROP DATABASE … WITH (FORCE)`: open
/// connections, the server's included, are cut). The drop runs on a thread
/// with a runtime of its own, so it works inside and outside async code;
/// if it fails, a warning is printed and the database is left behind.
pub struct TestDatabase {
    name: String,
    url: String,
}

/// Taken by every test process before it checks for or builds the template,
/// so parallel processes build it once.
const TEMPLATE_LOCK_KEY: i64 = 0x4845_5943_4c41_5701;

impl TestDatabase {
    /// A database with every migration applied, copied from the template
    /// `heyclaw_template_<hash of migrations/>`.
    ///
    /// The first call on a machine (or after a migration changed) builds
    /// the template, under a Postgres advisory lock so that parallel test
    /// processes build it once; later calls only copy it. A copy waits up
    /// to about five seconds for the template to be free of connections.
    ///
    /// # Panics
    ///
    /// If PostgreSQL cannot be reached, the migrations do not apply, or the
    /// copy fails.
    pub async fn create() -> Self {
        let admin_url = admin_database_url();
        let template = ensure_template(&admin_url).await;
        let name = format!("heyclaw_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&admin_url).await;
        // A template cannot be copied while anyone is connected to it; the
        // builder's connection may take a moment to go away.
        let mut attempts = 0;
        loop {
            let result = admin::create_database(&mut admin, &name, Some(&template)).await;
            match result {
                Ok(_) => break,
                Err(err)
                    if attempts < 50
                        && err.to_string().contains("being accessed by other users") =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot create test database {name}: {err}"),
            }
        }
        Self {
            url: admin::with_database(&admin_url, &name),
            name,
        }
    }

    /// An empty database of its own (no migrations), e.g. to build another
    /// system's shape in ([`crate::ORIGINAL_SCHEMA`]).
    ///
    /// # Panics
    ///
    /// If PostgreSQL cannot be reached or the database cannot be created.
    pub async fn create_empty() -> Self {
        let admin_url = admin_database_url();
        let name = format!("heyclaw_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&admin_url).await;
        admin::create_database(&mut admin, &name, None)
            .await
            .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
        Self {
            url: admin::with_database(&admin_url, &name),
            name,
        }
    }

    /// The connection URL of this database (the admin URL with the
    /// database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `heyclaw_test_<uuid>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `n` column of a `SELECT count(*) AS n …`-style query, for
    /// assertions, on a fresh connection.
    ///
    /// # Panics
    ///
    /// If the query fails or returns no row with a `bigint` column `n`.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.connect().await;
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
            .n
    }

    /// A small connection pool (two connections, 5 s timeouts) on this
    /// test's database, for code under test that takes a pool. Connections
    /// are made lazily.
    ///
    /// # Panics
    ///
    /// If the URL is malformed.
    pub fn pool(&self) -> heyclaw_persistence::PgPool {
        heyclaw_persistence::connect_pg_pool(
            &self.url,
            &heyclaw_persistence::PgPoolSettings {
                max_size: 2,
                wait_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
            },
        )
        .expect("pool settings are valid")
    }

    /// Runs one SQL statement of the test's own (one only: it is sent as a
    /// prepared statement) on a fresh connection, e.g. to set up a state.
    ///
    /// # Panics
    ///
    /// If the statement fails (the message names the SQL).
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.connect().await;
        heyclaw_persistence::admin::execute(&mut conn, sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// A fresh connection to this test's database, for assertions.
    /// Panics if it cannot connect.
    pub async fn connect(&self) -> AsyncPgConnection {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin_url = admin_database_url();
        // Drop runs outside async context guarantees: use a thread with a
        // runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url).await.ok()?;
                admin::drop_database(&mut admin, &name).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to PostgreSQL at the test admin URL: {err}"))
}

/// The migrated template database, named after a hash of the migrations so
/// a changed migration gets a new template.
async fn ensure_template(admin_url: &str) -> String {
    let template = format!("heyclaw_template_{:016x}", migrations_hash());
    let mut admin = connect(admin_url).await;
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut admin)
        .await
        .expect("advisory lock");
    if !admin::database_exists(&mut admin, &template)
        .await
        .expect("query pg_database")
    {
        // Built under another name and renamed, so a crash mid-way never
        // leaves a half-migrated template behind under the real name.
        let building = format!("{template}_building");
        admin::drop_database(&mut admin, &building)
            .await
            .expect("drop stale template");
        admin::create_database(&mut admin, &building, None)
            .await
            .expect("create template");
        let conn = connect(&admin::with_database(admin_url, &building)).await;
        heyclaw_persistence::run_migrations(conn)
            .await
            .expect("migrations apply");
        let mut renamed = false;
        for _ in 0..50 {
            if admin::rename_database(&mut admin, &building, &template)
                .await
                .is_ok()
            {
                renamed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(renamed, "cannot rename {building} to {template}");
    }
    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut admin)
        .await
        .expect("advisory unlock");
    template
}

fn migrations_hash() -> u64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    let mut hasher = DefaultHasher::new();
    for migration in entries {
        migration.file_name().hash(&mut hasher);
        std::fs::read(migration.join("up.sql"))
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}
