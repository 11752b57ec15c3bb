//! Subscriptions: the plan in force, Apple's snapshots applied in order, and
//! the App Store notifications already seen.

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{AsExprOf, sql},
    expression::{SqlLiteral, UncheckedBind},
    prelude::*,
    sql_types::{Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    models::{PlanLimitsRow, Subscription},
    schema::{app_store_notifications, plan_limits, subscriptions},
};

/// The plan every account starts on, and the one a lapsed paid plan falls
/// back to.
pub const PLAN_FREE: &str = "free";

/// A SQL expression of a subscription, evaluated at a given time (the type
/// [`effective_plan`] and [`effective_status`] return).
pub(crate) type AtTime =
    SqlLiteral<Text, UncheckedBind<SqlLiteral<Text>, AsExprOf<DateTime<Utc>, Timestamptz>>>;

/// `subscriptions.plan` as it stands at `now`: a paid plan whose period (and
/// any grace period) is over counts as free, even when the notification that
/// said so was lost.
///
/// Raw SQL naming `subscriptions.*`: usable only in a query that has the
/// `subscriptions` table in its `FROM`. Crate-private for that reason (and
/// because only this crate may speak diesel).
pub(crate) fn effective_plan(now: DateTime<Utc>) -> AtTime {
    over_or("'free'", "subscriptions.plan", now)
}

/// `subscriptions.status` as it stands at `now` (`expired` once a paid
/// period is over). Usable like [`effective_plan`].
pub(crate) fn effective_status(now: DateTime<Utc>) -> AtTime {
    over_or("'expired'", "subscriptions.status", now)
}

fn over_or(when_over: &str, otherwise: &str, now: DateTime<Utc>) -> AtTime {
    sql::<Text>(
        "(CASE WHEN subscriptions.plan <> 'free' \
         AND greatest(subscriptions.current_period_end, subscriptions.grace_period_ends_at) <= ",
    )
    .bind::<Timestamptz, _>(now)
    .sql(&format!(" THEN {when_over} ELSE {otherwise} END)"))
}

/// Every plan `plan_limits` defines, by name.
pub async fn plan_names(conn: &mut AsyncPgConnection) -> Result<Vec<String>, PersistenceError> {
    Ok(plan_limits::table
        .select(plan_limits::plan)
        .order(plan_limits::plan)
        .load(conn)
        .await?)
}

/// What a user's subscription gives them now.
#[derive(Debug, Clone)]
pub struct Entitlement {
    /// The subscription, with plan and status as in force at the time asked.
    pub subscription: Subscription,
    /// That plan's limits.
    pub limits: PlanLimitsRow,
}

/// What the user's subscription gives them at `now`: the effective plan
/// and status (a paid plan whose period and grace period are over reads
/// `free` / `expired`) with that plan's limits. `None` when the user has no
/// subscription row.
pub async fn entitlement(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Entitlement>, PersistenceError> {
    let found: Option<(Subscription, PlanLimitsRow)> = subscriptions::table
        .inner_join(plan_limits::table.on(plan_limits::plan.eq(effective_plan(now))))
        .filter(subscriptions::user_id.eq(user_id))
        .select((
            (
                effective_plan(now),
                effective_status(now),
                subscriptions::current_period_end,
            ),
            PlanLimitsRow::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(subscription, limits)| Entitlement {
        subscription,
        limits,
    }))
}

/// One of Apple's snapshots of a subscription, ready to apply.
#[derive(Debug, Clone)]
pub struct AppleSnapshot<'a> {
    /// The purchase (Apple's original transaction id); unique across users.
    pub original_transaction_id: &'a str,
    /// The App Store product.
    pub product_id: &'a str,
    /// The plan while the snapshot is in force (`free` once it is over).
    pub plan: &'a str,
    /// `active`, `grace_period`, `billing_retry`, `expired`, `refunded`, `revoked`.
    pub status: &'a str,
    /// When the paid period ends (Apple's `expiresDate`).
    pub period_end: Option<DateTime<Utc>>,
    /// When a billing grace period ends, if one runs.
    pub grace_period_ends_at: Option<DateTime<Utc>>,
    /// `Production` or `Sandbox`.
    pub environment: &'a str,
    /// When Apple signed it: an older snapshot never overrides a newer one.
    pub signed_at: DateTime<Utc>,
}

/// Whether a snapshot changed the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The snapshot was written. (Also the answer when the user has no
    /// subscription row, though then nothing was written.)
    Applied,
    /// The subscription already holds a newer snapshot of that purchase.
    Stale,
}

/// Applies a snapshot to the user's subscription and links the purchase to
/// them. Run it in a transaction: the row stays locked until it ends.
/// A purchase linked to another account is a unique violation.
///
/// The snapshot is [`Applied::Stale`] only against a newer-or-equal one of
/// the *same* purchase; a snapshot of another purchase always replaces the
/// current one. The subscription is overwritten as a whole (plan, status,
/// period, grace, Apple ids, environment, signing time); a lapsed paid
/// plan still reads as `free` ([`entitlement`]).
pub async fn apply_snapshot(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    snapshot: &AppleSnapshot<'_>,
) -> Result<Applied, PersistenceError> {
    let current: Option<(Option<String>, Option<DateTime<Utc>>)> = subscriptions::table
        .filter(subscriptions::user_id.eq(user_id))
        .select((
            subscriptions::apple_original_transaction_id,
            subscriptions::apple_signed_at,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    if let Some((Some(linked), Some(signed_at))) = &current
        && linked == snapshot.original_transaction_id
        && *signed_at >= snapshot.signed_at
    {
        return Ok(Applied::Stale);
    }
    diesel::update(subscriptions::table.filter(subscriptions::user_id.eq(user_id)))
        .set((
            subscriptions::plan.eq(snapshot.plan),
            subscriptions::status.eq(snapshot.status),
            subscriptions::current_period_end.eq(snapshot.period_end),
            subscriptions::grace_period_ends_at.eq(snapshot.grace_period_ends_at),
            subscriptions::apple_original_transaction_id.eq(snapshot.original_transaction_id),
            subscriptions::apple_product_id.eq(snapshot.product_id),
            subscriptions::apple_environment.eq(snapshot.environment),
            subscriptions::apple_signed_at.eq(snapshot.signed_at),
        ))
        .execute(conn)
        .await?;
    Ok(Applied::Applied)
}

/// The account a purchase is linked to, with its row locked until the
/// transaction ends. Run it in a transaction. `None` when the purchase is
/// linked to no account.
pub async fn lock_owner_of(
    conn: &mut AsyncPgConnection,
    original_transaction_id: &str,
) -> Result<Option<Uuid>, PersistenceError> {
    Ok(subscriptions::table
        .filter(subscriptions::apple_original_transaction_id.eq(original_transaction_id))
        .select(subscriptions::user_id)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// An App Store notification as received, with the snapshot it carried
/// (`status` is `None` for notifications without an effect).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = app_store_notifications)]
pub struct NewNotification<'a> {
    /// Apple's id of the notification; a redelivery repeats it.
    pub notification_uuid: &'a str,
    /// Apple's `notificationType` (e.g. `DID_RENEW`).
    pub notification_type: &'a str,
    /// Apple's `subtype`, if any.
    pub subtype: Option<&'a str>,
    /// The purchase it is about, if any.
    pub original_transaction_id: Option<&'a str>,
    /// When Apple signed it.
    pub signed_at: Option<DateTime<Utc>>,
    /// `Production` or `Sandbox`.
    pub environment: Option<&'a str>,
    /// The App Store product.
    pub product_id: Option<&'a str>,
    /// The subscription status it implies; `None` when it has no effect.
    pub status: Option<&'a str>,
    /// When the paid period ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a billing grace period ends, if one runs.
    pub grace_period_ends_at: Option<DateTime<Utc>>,
    /// The account it was applied to; `None` until the purchase is linked
    /// ([`set_notification_user`]).
    pub user_id: Option<Uuid>,
}

/// Records a notification; false when its UUID was seen before (a
/// redelivery, which must change nothing). Record it in the same
/// transaction as its effect, so a failure leaves neither.
pub async fn record_notification(
    conn: &mut AsyncPgConnection,
    notification: &NewNotification<'_>,
) -> Result<bool, PersistenceError> {
    let inserted = diesel::insert_into(app_store_notifications::table)
        .values(notification)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// A stored notification's snapshot (fields as in [`AppleSnapshot`]).
#[derive(Debug, Clone, Queryable)]
pub struct StoredSnapshot {
    /// The App Store product.
    pub product_id: String,
    /// The status it implies.
    pub status: String,
    /// When the paid period ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a billing grace period ends, if one runs.
    pub grace_period_ends_at: Option<DateTime<Utc>>,
    /// `Production` or `Sandbox`.
    pub environment: String,
    /// When Apple signed it.
    pub signed_at: DateTime<Utc>,
}

/// The newest notification about a purchase signed after `after`: what
/// arrived before the purchase was linked to an account.
///
/// Only notifications with an effect (`status` set) count. `None` when
/// there is none — or when the newest lacks its product, environment or
/// signing time (an older complete one is then not looked for).
pub async fn newest_snapshot_after(
    conn: &mut AsyncPgConnection,
    original_transaction_id: &str,
    after: DateTime<Utc>,
) -> Result<Option<StoredSnapshot>, PersistenceError> {
    let found: Option<StoredRow> = app_store_notifications::table
        .filter(app_store_notifications::original_transaction_id.eq(original_transaction_id))
        .filter(app_store_notifications::status.is_not_null())
        .filter(app_store_notifications::signed_at.gt(after))
        .order(app_store_notifications::signed_at.desc())
        .select((
            app_store_notifications::product_id,
            app_store_notifications::status,
            app_store_notifications::expires_at,
            app_store_notifications::grace_period_ends_at,
            app_store_notifications::environment,
            app_store_notifications::signed_at,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.and_then(|row| {
        Some(StoredSnapshot {
            product_id: row.product_id?,
            status: row.status?,
            expires_at: row.expires_at,
            grace_period_ends_at: row.grace_period_ends_at,
            environment: row.environment?,
            signed_at: row.signed_at?,
        })
    }))
}

/// A notification row's snapshot columns (nullable in the table).
#[derive(Queryable)]
struct StoredRow {
    product_id: Option<String>,
    status: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    grace_period_ends_at: Option<DateTime<Utc>>,
    environment: Option<String>,
    signed_at: Option<DateTime<Utc>>,
}

/// Marks a notification as applied to an account. An unknown UUID changes
/// nothing.
pub async fn set_notification_user(
    conn: &mut AsyncPgConnection,
    notification_uuid: &str,
    user_id: Uuid,
) -> Result<(), PersistenceError> {
    diesel::update(
        app_store_notifications::table
            .filter(app_store_notifications::notification_uuid.eq(notification_uuid)),
    )
    .set(app_store_notifications::user_id.eq(user_id))
    .execute(conn)
    .await?;
    Ok(())
}
