use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use crate::PersistenceError;

/// Runs `body` in a transaction: committed when it returns `Ok`, rolled back
/// when it returns `Err`. An `Ok` may carry a refusal that must still be
/// committed (e.g. a token family revoked on reuse).
///
/// Called while `conn` is already in a transaction, it uses a savepoint
/// instead: an `Err` rolls back only what `body` did, and the outer
/// transaction can go on (this is how a unique violation inside it can be
/// turned into an answer).
///
/// `BEGIN` or `COMMIT` failing is returned as `E::from(PersistenceError)`;
/// a failed rollback is only logged (the error returned is `body`'s), and
/// the broken connection is then discarded by the pool.
///
/// If the future is dropped mid-way, the connection is left inside a
/// transaction; the pool sees that on recycle and discards the connection,
/// so nothing half-done is ever committed.
pub async fn transaction<R, E, F>(conn: &mut AsyncPgConnection, body: F) -> Result<R, E>
where
    F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<R, E>,
    E: From<PersistenceError>,
{
    AnsiTransactionManager::begin_transaction(conn)
        .await
        .map_err(PersistenceError::from)?;
    match body(conn).await {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn)
                .await
                .map_err(PersistenceError::from)?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(conn).await {
                tracing::warn!(error = %rollback, "rollback failed; the connection will be discarded");
            }
            Err(err)
        }
    }
}
