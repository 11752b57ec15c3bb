//! Billing: Apple in-app purchases change a user's plan, and only data Apple
//! signed does.
//!
//! - `POST /billing/verify` ([`Billing::verify`]): the app sends what StoreKit
//!   gave it — a StoreKit 1 app receipt (looked up with the App Store Server
//!   API) or a StoreKit 2 signed transaction — and the product it thinks it
//!   bought. The plan comes from the verified transaction's product; a
//!   client whose product disagrees gets a 400. One purchase (original
//!   transaction) belongs to one account: the unique link makes a second
//!   account's verify a 409, even when both race.
//! - `POST /billing/webhook` ([`Billing::notification`]): App Store Server
//!   Notifications V2, idempotent by notification UUID and ordered by
//!   Apple's signing time; a notification for a purchase no account has
//!   claimed yet is stored and applied when the app verifies it.
//! - Reads ([`Billing::status`], and every quota check) take the plan in
//!   force at read time: a paid period that is over counts as free even if
//!   the notification saying so was lost.

use std::{collections::BTreeMap, sync::Arc};

use heyclaw_billing::{AppStore, BillingError, VerifiedNotification, VerifiedTransaction};
use heyclaw_domain::UserId;
use heyclaw_persistence::{
    AsyncPgConnection, PersistenceError, PgPool,
    models::{PlanLimitsRow, Subscription},
    queries::subscriptions::{
        self, AppleSnapshot, Applied, NewNotification, PLAN_FREE, StoredSnapshot,
    },
};
use uuid::Uuid;

use crate::{AppError, access_cache::AccessCache, clock::SharedClock};

/// Which plan each App Store product id grants.
pub type ProductPlans = BTreeMap<String, String>;

/// The products the shipped app sells (legacy `ultra` is premium now).
///
/// ```
/// use heyclaw_app::billing::default_product_plans;
///
/// let plans = default_product_plans();
/// assert_eq!(plans["com.heyclaw.pro.monthly"], "pro");
/// assert_eq!(plans["com.heyclaw.ultra.monthly"], "premium");
/// assert!(!plans.contains_key("com.heyclaw.free"));
/// ```
pub fn default_product_plans() -> ProductPlans {
    [
        ("com.heyclaw.starter.monthly", "starter"),
        ("com.heyclaw.pro.monthly", "pro"),
        ("com.heyclaw.premium.monthly", "premium"),
        ("com.heyclaw.ultra.monthly", "premium"),
    ]
    .into_iter()
    .map(|(product, plan)| (product.to_owned(), plan.to_owned()))
    .collect()
}

/// A user's plan as it stands, with its limits.
#[derive(Debug, Clone)]
pub struct PlanStatus {
    /// The subscription row, its plan being the one in force now (free once
    /// a paid period is over).
    pub subscription: Subscription,
    /// That plan's limits.
    pub limits: PlanLimitsRow,
}

/// What a notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// Applied to an account, or stored until one claims the purchase.
    Processed,
    /// Seen before: nothing changed.
    Duplicate,
    /// A notification type without an effect on plans (logged).
    Ignored,
}

impl NotificationOutcome {
    /// The outcome as logged: `processed`, `duplicate` or `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

/// Purchases and the plan in force. Cheap to clone.
#[derive(Clone)]
pub struct Billing {
    pg: PgPool,
    store: Option<Arc<AppStore>>,
    products: Arc<ProductPlans>,
    clock: SharedClock,
    cache: AccessCache,
}

const STATUS_ACTIVE: &str = "active";

impl Billing {
    /// Billing over `pg`, verifying with `store` and granting plans by
    /// `products`; paid periods are judged by `clock`, and `cache` is
    /// evicted after this replica's plan changes.
    ///
    /// `store: None` turns verification off (purchases get a 503).
    pub fn new(
        pg: PgPool,
        store: Option<Arc<AppStore>>,
        products: ProductPlans,
        clock: SharedClock,
        cache: AccessCache,
    ) -> Self {
        Self {
            pg,
            store,
            products: Arc::new(products),
            clock,
            cache,
        }
    }

    /// Checks the configuration at start-up: fails when a product maps to a
    /// plan `plan_limits` does not have.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] naming the product, its plan and the plans
    /// there are; [`AppError::Storage`].
    pub async fn check_products(&self) -> Result<(), AppError> {
        let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
        let plans = subscriptions::plan_names(&mut conn).await?;
        for (product, plan) in self.products.iter() {
            if !plans.contains(plan) {
                return Err(AppError::invalid(format!(
                    "{product} maps to {plan:?}, which is not a plan (plans: {})",
                    plans.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The plan in force now (by the injected clock), with its limits.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when the user is gone; [`AppError::Storage`].
    pub async fn status(&self, user: UserId) -> Result<PlanStatus, AppError> {
        let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
        let entitlement = subscriptions::entitlement(&mut conn, user.0, self.clock.now())
            .await?
            .ok_or(AppError::NotFound("User not found"))?;
        Ok(PlanStatus {
            subscription: entitlement.subscription,
            limits: entitlement.limits,
        })
    }

    /// Verifies a purchase the app reports and puts the user on its plan.
    ///
    /// `receipt_data` is a StoreKit 2 signed transaction (JWS, verified
    /// locally) or a StoreKit 1 app receipt (looked up with the App Store
    /// Server API, over the network). The purchase is linked to the user,
    /// its state applied, and any notification Apple sent before the link
    /// applied after it, in one transaction; this replica's access cache
    /// forgets the user after the commit. Verifying the same purchase again
    /// for the same user is harmless. Returns the plan in force afterwards.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for missing fields, a product we do not sell,
    /// data Apple did not sign or does not know, a verified product that is
    /// not `product_id`, or a purchase refunded, revoked or expired;
    /// [`AppError::Conflict`] when the purchase belongs to another account
    /// (its `appAccountToken`, or its link); [`AppError::BillingUnavailable`]
    /// when verification is off, not fully configured, or the App Store
    /// cannot be reached; [`AppError::Storage`].
    pub async fn verify(
        &self,
        user: UserId,
        receipt_data: &str,
        product_id: &str,
    ) -> Result<PlanStatus, AppError> {
        let (receipt_data, product_id) = (receipt_data.trim(), product_id.trim());
        if receipt_data.is_empty() || product_id.is_empty() {
            return Err(AppError::invalid("receiptData and productId are required"));
        }
        if !self.products.contains_key(product_id) {
            return Err(AppError::invalid("Invalid product ID"));
        }
        let store = self.store()?;
        let transaction = if heyclaw_billing::looks_like_jws(receipt_data) {
            store.verify_transaction(receipt_data)
        } else {
            store.transaction_from_receipt(receipt_data).await
        }
        .map_err(billing_error)?;
        if transaction.product_id != product_id {
            tracing::warn!(%user, claimed = product_id, verified = %transaction.product_id, "purchase verify: product mismatch");
            return Err(AppError::invalid("The purchase does not match the product"));
        }
        let plan = self.plan_of(&transaction.product_id)?;
        if transaction
            .app_account_token
            .is_some_and(|token| token != user.0)
        {
            return Err(AppError::Conflict(
                "This purchase belongs to another account".to_owned(),
            ));
        }
        let now = self.clock.now();
        if transaction.revoked_at.is_some() {
            return Err(AppError::invalid("This purchase was refunded or revoked"));
        }
        if transaction.expires_at.is_some_and(|end| end <= now) {
            return Err(AppError::invalid("This subscription has expired"));
        }
        let snapshot = active_snapshot(&transaction, plan);
        let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
        let linked =
            heyclaw_persistence::transaction::<_, PersistenceError, _>(&mut conn, async |conn| {
                subscriptions::apply_snapshot(conn, user.0, &snapshot).await?;
                // Notifications that came before the purchase was linked.
                let newer = subscriptions::newest_snapshot_after(
                    conn,
                    &transaction.original_transaction_id,
                    transaction.signed_at,
                )
                .await?;
                if let Some(stored) = newer {
                    self.apply_stored(conn, user.0, &transaction.original_transaction_id, &stored)
                        .await?;
                }
                Ok(())
            })
            .await;
        match linked {
            Ok(()) => {}
            Err(err) if err.is_unique_violation() => {
                return Err(AppError::Conflict(
                    "This purchase is already linked to another account".to_owned(),
                ));
            }
            Err(err) => return Err(err.into()),
        }
        drop(conn);
        // After the commit: the very next quota check sees the new plan.
        self.cache.evict(user.0);
        tracing::info!(%user, plan, environment = transaction.environment.as_str(), "purchase verified");
        self.status(user).await
    }

    /// Applies an App Store Server Notification V2 (`signedPayload`).
    ///
    /// The payload's signature chain is verified; the notification is
    /// recorded once per UUID (a repeat is [`NotificationOutcome::Duplicate`])
    /// and, when its purchase is linked to an account, its state applied to
    /// that account — only if it is newer (by Apple's signing time) than
    /// what the account has. A notification for an unclaimed purchase is
    /// stored and applied by [`Billing::verify`]; one without an effect on
    /// plans, or for a product we do not sell, is
    /// [`NotificationOutcome::Ignored`].
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or unverifiable payload;
    /// [`AppError::BillingUnavailable`] when verification is off or not
    /// configured; [`AppError::Storage`].
    pub async fn notification(
        &self,
        signed_payload: &str,
    ) -> Result<NotificationOutcome, AppError> {
        if signed_payload.trim().is_empty() {
            return Err(AppError::invalid("signedPayload is required"));
        }
        let notification = self
            .store()?
            .verify_notification(signed_payload.trim())
            .map_err(billing_error)?;
        let effect = self.effect(&notification);
        let transaction = notification.transaction.as_ref();
        let record = NewNotification {
            notification_uuid: &notification.notification_uuid,
            notification_type: &notification.notification_type,
            subtype: notification.subtype.as_deref(),
            original_transaction_id: transaction.map(|t| t.original_transaction_id.as_str()),
            signed_at: Some(notification.signed_at),
            environment: Some(notification.environment.as_str()),
            product_id: effect.as_ref().map(|e| e.product_id.as_str()),
            status: effect.as_ref().map(|e| e.status),
            expires_at: effect.as_ref().and_then(|e| e.period_end),
            grace_period_ends_at: effect.as_ref().and_then(|e| e.grace_period_ends_at),
            user_id: None,
        };
        let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
        let outcome =
            heyclaw_persistence::transaction::<_, PersistenceError, _>(&mut conn, async |conn| {
                if !subscriptions::record_notification(conn, &record).await? {
                    return Ok((NotificationOutcome::Duplicate, None));
                }
                let (Some(effect), Some(transaction)) = (&effect, transaction) else {
                    return Ok((NotificationOutcome::Ignored, None));
                };
                let original = &transaction.original_transaction_id;
                if let Some(owner) = subscriptions::lock_owner_of(conn, original).await? {
                    let snapshot = AppleSnapshot {
                        original_transaction_id: original,
                        product_id: &effect.product_id,
                        plan: effect.plan(),
                        status: effect.status,
                        period_end: effect.period_end,
                        grace_period_ends_at: effect.grace_period_ends_at,
                        environment: notification.environment.as_str(),
                        signed_at: notification.signed_at,
                    };
                    subscriptions::apply_snapshot(conn, owner, &snapshot).await?;
                    subscriptions::set_notification_user(
                        conn,
                        &notification.notification_uuid,
                        owner,
                    )
                    .await?;
                    return Ok((NotificationOutcome::Processed, Some(owner)));
                }
                Ok((NotificationOutcome::Processed, None))
            })
            .await?;
        let (outcome, owner) = outcome;
        if let Some(owner) = owner {
            // After the commit: a reload now sees the new plan.
            self.cache.evict(owner);
        }
        tracing::info!(
            notification_type = %notification.notification_type,
            subtype = ?notification.subtype,
            outcome = outcome.as_str(),
            "App Store notification"
        );
        Ok(outcome)
    }

    fn store(&self) -> Result<&AppStore, AppError> {
        self.store.as_deref().ok_or_else(|| {
            tracing::error!("billing is off: no App Store verification is configured");
            AppError::BillingUnavailable("Purchases cannot be verified right now.".to_owned())
        })
    }

    fn plan_of(&self, product_id: &str) -> Result<&str, AppError> {
        self.products
            .get(product_id)
            .map(String::as_str)
            .ok_or_else(|| AppError::invalid("Invalid product ID"))
    }

    /// What a notification means for the plan, if anything.
    fn effect(&self, notification: &VerifiedNotification) -> Option<Effect> {
        let transaction = notification.transaction.as_ref()?;
        let Ok(plan) = self.plan_of(&transaction.product_id) else {
            tracing::warn!(product = %transaction.product_id, "notification for an unknown product; ignored");
            return None;
        };
        let status = match (
            notification.notification_type.as_str(),
            notification.subtype.as_deref(),
        ) {
            (
                "SUBSCRIBED"
                | "DID_RENEW"
                | "OFFER_REDEEMED"
                | "RENEWAL_EXTENDED"
                | "REFUND_REVERSED"
                | "DID_CHANGE_RENEWAL_PREF",
                _,
            ) if transaction.revoked_at.is_some() => "revoked",
            // An upgrade's transaction is the new product, at once; a
            // downgrade's is still the current one (the new product comes
            // with the next renewal's transaction).
            (
                "SUBSCRIBED"
                | "DID_RENEW"
                | "OFFER_REDEEMED"
                | "RENEWAL_EXTENDED"
                | "REFUND_REVERSED"
                | "DID_CHANGE_RENEWAL_PREF",
                _,
            ) => STATUS_ACTIVE,
            ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => "grace_period",
            ("DID_FAIL_TO_RENEW", _) => "billing_retry",
            ("EXPIRED" | "GRACE_PERIOD_EXPIRED", _) => "expired",
            ("REFUND", _) => "refunded",
            ("REVOKE", _) => "revoked",
            _ => return None,
        };
        Some(Effect {
            product_id: transaction.product_id.clone(),
            paid_plan: plan.to_owned(),
            status,
            period_end: transaction.expires_at,
            grace_period_ends_at: (status == "grace_period")
                .then(|| {
                    notification
                        .renewal
                        .as_ref()
                        .and_then(|r| r.grace_period_expires_at)
                })
                .flatten(),
        })
    }

    async fn apply_stored(
        &self,
        conn: &mut AsyncPgConnection,
        user: Uuid,
        original_transaction_id: &str,
        stored: &StoredSnapshot,
    ) -> Result<(), PersistenceError> {
        let Ok(paid_plan) = self.plan_of(&stored.product_id) else {
            return Ok(());
        };
        let effect = Effect {
            product_id: stored.product_id.clone(),
            paid_plan: paid_plan.to_owned(),
            status: known_status(&stored.status),
            period_end: stored.expires_at,
            grace_period_ends_at: stored.grace_period_ends_at,
        };
        let applied = subscriptions::apply_snapshot(
            conn,
            user,
            &AppleSnapshot {
                original_transaction_id,
                product_id: &effect.product_id,
                plan: effect.plan(),
                status: effect.status,
                period_end: effect.period_end,
                grace_period_ends_at: effect.grace_period_ends_at,
                environment: &stored.environment,
                signed_at: stored.signed_at,
            },
        )
        .await?;
        if applied == Applied::Applied {
            tracing::info!(%user, status = effect.status, "applied a notification that came before the purchase was linked");
        }
        Ok(())
    }
}

/// A notification's effect on a subscription.
struct Effect {
    product_id: String,
    paid_plan: String,
    status: &'static str,
    period_end: Option<chrono::DateTime<chrono::Utc>>,
    grace_period_ends_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Effect {
    /// The plan while this state holds: the product's while it is paid for
    /// (active, in grace, retrying billing — the period end decides), free
    /// once it expired or was refunded or revoked.
    fn plan(&self) -> &str {
        match self.status {
            "expired" | "refunded" | "revoked" => PLAN_FREE,
            _ => &self.paid_plan,
        }
    }
}

/// The stored status as one of ours (anything unknown reads as expired).
fn known_status(status: &str) -> &'static str {
    match status {
        "active" => STATUS_ACTIVE,
        "grace_period" => "grace_period",
        "billing_retry" => "billing_retry",
        "refunded" => "refunded",
        "revoked" => "revoked",
        _ => "expired",
    }
}

fn active_snapshot<'a>(transaction: &'a VerifiedTransaction, plan: &'a str) -> AppleSnapshot<'a> {
    AppleSnapshot {
        original_transaction_id: &transaction.original_transaction_id,
        product_id: &transaction.product_id,
        plan,
        status: STATUS_ACTIVE,
        period_end: transaction.expires_at,
        grace_period_ends_at: None,
        environment: transaction.environment.as_str(),
        signed_at: transaction.signed_at,
    }
}

fn billing_error(err: BillingError) -> AppError {
    match err {
        BillingError::Invalid(reason) => {
            tracing::warn!(%reason, "App Store data rejected");
            AppError::invalid("The purchase could not be verified")
        }
        BillingError::NotFound => AppError::invalid("The App Store does not know this purchase"),
        BillingError::NotConfigured(what) => {
            tracing::error!(missing = what, "billing is not fully configured");
            AppError::BillingUnavailable("Purchases cannot be verified right now.".to_owned())
        }
        BillingError::Unavailable(reason) => {
            tracing::warn!(%reason, "App Store unavailable");
            AppError::BillingUnavailable(
                "The App Store cannot be reached right now. Please try again shortly.".to_owned(),
            )
        }
    }
}
