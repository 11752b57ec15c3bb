//! Whole-database administration for tooling (`cargo xtask db …`) and the
//! test harness: create, drop, rename, check. Never used by the server.
//!
//! The functions that take an `admin` connection want one to another
//! database of the same server (usually `postgres`, reached with
//! [`with_database`]), with the rights to create and drop databases.
//! Database names go into DDL as they are, so every one is checked first:
//! lowercase ASCII letters, digits and `_`, not starting with a digit, at
//! most 63 bytes; anything else is [`PersistenceError::Config`] before any
//! SQL is sent.

use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::PersistenceError;

/// Database names are interpolated into DDL (Postgres cannot bind them), so
/// only plain identifiers are accepted.
fn checked(name: &str) -> Result<&str, PersistenceError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(PersistenceError::Config(format!(
            "database name {name:?} must be lowercase letters, digits and '_'"
        )))
    }
}

/// Whether a database called `name` exists on the server. Errors with
/// [`PersistenceError::Config`] for a name that is not a plain identifier
/// (even though this query could bind it), so a name accepted here is one
/// the other functions accept too.
pub async fn database_exists(
    admin: &mut AsyncPgConnection,
    name: &str,
) -> Result<bool, PersistenceError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let count: Count =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(checked(name)?)
            .get_result(admin)
            .await?;
    Ok(count.n > 0)
}

/// `CREATE DATABASE name [TEMPLATE template]`.
///
/// Copying a template is how tests get a migrated database quickly; it
/// fails while anyone else is connected to the template. A `name` that is
/// taken is a `Query` error (`duplicate_database`); both names must be plain
/// identifiers ([`PersistenceError::Config`]). Cannot run inside a
/// transaction.
pub async fn create_database(
    admin: &mut AsyncPgConnection,
    name: &str,
    template: Option<&str>,
) -> Result<(), PersistenceError> {
    let sql = match template {
        Some(template) => format!(
            "CREATE DATABASE {} TEMPLATE {}",
            checked(name)?,
            checked(template)?
        ),
        None => format!("CREATE DATABASE {}", checked(name)?),
    };
    diesel::sql_query(sql).execute(admin).await?;
    Ok(())
}

/// Drops the database if it exists, first terminating every session
/// connected to it (`WITH (FORCE)`): pools still using it see their
/// connections cut. Succeeds when there was nothing to drop.
pub async fn drop_database(
    admin: &mut AsyncPgConnection,
    name: &str,
) -> Result<(), PersistenceError> {
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        checked(name)?
    ))
    .execute(admin)
    .await?;
    Ok(())
}

/// `ALTER DATABASE from RENAME TO to`. Fails (`Query`) while anyone is
/// connected to `from`, or when `to` is taken; both names must be plain
/// identifiers ([`PersistenceError::Config`]).
pub async fn rename_database(
    admin: &mut AsyncPgConnection,
    from: &str,
    to: &str,
) -> Result<(), PersistenceError> {
    diesel::sql_query(format!(
        "ALTER DATABASE {} RENAME TO {}",
        checked(from)?,
        checked(to)?
    ))
    .execute(admin)
    .await?;
    Ok(())
}

/// Runs one SQL statement of tooling's own and returns the rows it
/// affected. The text is sent as it is, unchecked and unbound: never pass
/// it anything built from user input.
pub async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(sql).execute(conn).await?)
}

/// The database name of a `postgres://…/name?params` URL; `None` when the
/// URL has no scheme or names no database. The name is returned as written
/// (not percent-decoded).
///
/// ```
/// use heyclaw_persistence::admin::database_name;
///
/// assert_eq!(database_name("postgres://u:p@db:5432/app?sslmode=require"), Some("app"));
/// assert_eq!(database_name("postgres://u@db"), None);
/// ```
pub fn database_name(url: &str) -> Option<&str> {
    let without_query = url.split('?').next()?;
    let after_scheme = without_query.split_once("://")?.1;
    let (_, name) = after_scheme.split_once('/')?;
    (!name.is_empty()).then_some(name)
}

/// The same URL pointing at another database: host, credentials and
/// query parameters are kept, the path is replaced by `name` (added when
/// there was none). `name` is inserted as it is, not checked or encoded.
///
/// ```
/// use heyclaw_persistence::admin::with_database;
///
/// assert_eq!(
///     with_database("postgres://u@db/heyclaw?sslmode=disable", "postgres"),
///     "postgres://u@db/postgres?sslmode=disable"
/// );
/// assert_eq!(with_database("postgres://u@db", "test_1"), "postgres://u@db/test_1");
/// ```
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(database_name("postgres://u:p@h:5432/app?x=1"), Some("app"));
        assert_eq!(database_name("postgres://u@h"), None);
    }

    #[test]
    fn only_plain_identifiers_reach_ddl() {
        assert!(checked("heyclaw_test_0af3").is_ok());
        for bad in ["", "Heyclaw", "a;drop", "a-b", "1abc", &"a".repeat(64)] {
            assert!(checked(bad).is_err(), "{bad:?}");
        }
    }
}
