//! Shards and their slot agents (migration `agent_slots`). The API binds a
//! user to a slot (a wake) and renews the binding's lease while it uses it;
//! the shard's keeper makes the files follow, marks bindings ready and
//! releases idle ones. A binding is only ever taken away once its lease has
//! passed, and every statement that takes one checks that in the same row
//! update, so a turn holding a live lease keeps its slot. Every time is the
//! caller's (an injectable clock).

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    queries::assistants::{STATUS_ACTIVE, STATUS_HIBERNATED},
    schema::{agent_slots, assistants, gateway_shards},
};

/// Nobody is in the slot and the keeper has emptied it.
pub const STATE_FREE: &str = "free";
/// Claimed by the API; the keeper has not finished moving the files in.
pub const STATE_BINDING: &str = "binding";
/// The keeper has moved the bound user's files in: turns may go to the
/// slot's agent.
pub const STATE_READY: &str = "ready";

/// A user's slot as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName)]
pub struct Binding {
    /// The shard.
    #[diesel(sql_type = Text)]
    pub gateway_id: String,
    /// The slot number on the shard (its agent is `slot-<n>`).
    #[diesel(sql_type = Int4)]
    pub slot: i32,
    /// Grows with each binding of the slot; readiness and the gateway
    /// session belong to one generation.
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    /// [`STATE_BINDING`] or [`STATE_READY`].
    #[diesel(sql_type = Text)]
    pub state: String,
    /// Until when the binding cannot be taken away.
    #[diesel(sql_type = Timestamptz)]
    pub lease_until: DateTime<Utc>,
    /// Whether the binding's first turn has carried the recent conversation
    /// ([`take_priming`]).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub primed: bool,
}

/// Extends the user's binding, if they have one, to at least `lease_until`
/// (a lease is never shortened) and marks it used at `now`. Returns the
/// binding as renewed; `None` when the user is bound to no slot (then
/// [`claim`] one).
pub async fn renew(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Binding>, PersistenceError> {
    Ok(
        diesel::update(agent_slots::table.filter(agent_slots::user_id.eq(user_id)))
            .set((
                agent_slots::lease_until.eq(diesel::dsl::sql::<Timestamptz>(
                    "greatest(lease_until, ",
                )
                .bind::<Timestamptz, _>(lease_until)
                .sql(")")),
                agent_slots::last_used_at.eq(now),
            ))
            .returning(binding_columns())
            .get_result(conn)
            .await
            .optional()?,
    )
}

type BindingColumns = (
    agent_slots::gateway_id,
    agent_slots::slot,
    agent_slots::generation,
    agent_slots::state,
    agent_slots::lease_until,
    agent_slots::primed,
);

fn binding_columns() -> BindingColumns {
    (
        agent_slots::gateway_id,
        agent_slots::slot,
        agent_slots::generation,
        agent_slots::state,
        agent_slots::lease_until,
        agent_slots::primed,
    )
}

/// The user's binding, if they have one. Reads only: the lease is not
/// renewed.
pub async fn binding_of(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Option<Binding>, PersistenceError> {
    Ok(agent_slots::table
        .filter(agent_slots::user_id.eq(user_id))
        .select(binding_columns())
        .first(conn)
        .await
        .optional()?)
}

/// What a wake could do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The user now holds this slot, in state [`STATE_BINDING`] with a
    /// new generation: wait for the keeper to make it [`STATE_READY`].
    Bound(Binding),
    /// Every slot of the shard is leased (all in use right now).
    Full,
    /// The user got a slot meanwhile (a concurrent wake): renew instead.
    AlreadyBound,
}

/// Binds the user to a slot of `gateway_id`: a free one, else the least
/// recently used one whose lease has passed (its user is hibernated by the
/// keeper). Then marks the assistant active — after the claim, so a claim
/// never waits on the assistant's row (the turn recorder's).
///
/// One `UPDATE` picks and takes the slot (`SKIP LOCKED`: a slot another
/// wake is taking is passed over, not waited for); the lease is checked in
/// it, so a slot whose lease still runs is never taken. Every claim bumps
/// the slot's generation and clears `primed`; the keeper hears of it
/// (`NOTIFY heyclaw_slots`).
///
/// Run it outside a transaction (or in a nested
/// [`transaction`](crate::transaction)): a concurrent wake of the same user
/// ends in a unique violation, answered as [`Claim::AlreadyBound`], which
/// would abort an enclosing transaction. The claim and the status update
/// are two statements: the claim stands even if the second fails.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    gateway_id: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Claim, PersistenceError> {
    let claimed: Result<Option<Binding>, PersistenceError> = async {
        Ok(diesel::sql_query(
            "WITH pick AS (
                 SELECT gateway_id, slot FROM agent_slots
                 WHERE gateway_id = $2 AND (user_id IS NULL OR lease_until < $3)
                 ORDER BY (user_id IS NOT NULL), last_used_at, slot
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             UPDATE agent_slots s
             SET user_id = $1, generation = s.generation + 1, state = 'binding',
                 lease_until = $4, last_used_at = $3, primed = false
             FROM pick WHERE s.gateway_id = pick.gateway_id AND s.slot = pick.slot
             RETURNING s.gateway_id, s.slot, s.generation, s.state, s.lease_until, s.primed",
        )
        .bind::<diesel::sql_types::Uuid, _>(user_id)
        .bind::<Text, _>(gateway_id)
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(lease_until)
        .get_result(conn)
        .await
        .optional()?)
    }
    .await;
    match claimed {
        Ok(Some(binding)) => {
            diesel::update(
                assistants::table
                    .filter(assistants::user_id.eq(user_id))
                    .filter(assistants::status.ne(STATUS_ACTIVE)),
            )
            .set(assistants::status.eq(STATUS_ACTIVE))
            .execute(conn)
            .await?;
            Ok(Claim::Bound(binding))
        }
        Ok(None) => Ok(Claim::Full),
        Err(err) if err.is_unique_violation() => Ok(Claim::AlreadyBound),
        Err(err) => Err(err),
    }
}

/// The state of one binding generation ([`STATE_BINDING`] or
/// [`STATE_READY`]): `None` once the slot has moved on (released, or taken
/// by someone else).
pub async fn binding_state(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    slot: i32,
    generation: i64,
) -> Result<Option<String>, PersistenceError> {
    Ok(agent_slots::table
        .filter(agent_slots::gateway_id.eq(gateway_id))
        .filter(agent_slots::slot.eq(slot))
        .filter(agent_slots::generation.eq(generation))
        .select(agent_slots::state)
        .first(conn)
        .await
        .optional()?)
}

/// Marks the binding's first turn as carrying the recent conversation.
/// True for exactly one caller per binding (generation); false for the
/// others and once the slot has moved on.
pub async fn take_priming(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    slot: i32,
    generation: i64,
) -> Result<bool, PersistenceError> {
    Ok(diesel::update(
        agent_slots::table
            .filter(agent_slots::gateway_id.eq(gateway_id))
            .filter(agent_slots::slot.eq(slot))
            .filter(agent_slots::generation.eq(generation))
            .filter(agent_slots::primed.eq(false)),
    )
    .set(agent_slots::primed.eq(true))
    .execute(conn)
    .await?
        == 1)
}

/// A shard as its keeper last announced it, with how many agents live on it
/// and how many are resident.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ShardLoad {
    /// The shard (gateway) id.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// How many slot agents it serves.
    #[diesel(sql_type = Int4)]
    pub slots: i32,
    /// When its keeper last announced it; compare with the announce
    /// interval to tell whether it is alive.
    #[diesel(sql_type = Timestamptz)]
    pub seen_at: DateTime<Utc>,
    /// Agents placed on it (resident or not).
    #[diesel(sql_type = BigInt)]
    pub agents: i64,
    /// Agents bound to one of its slots now.
    #[diesel(sql_type = BigInt)]
    pub resident: i64,
    /// Of those, the ones whose lease has not passed (a turn within
    /// `AGENT_LEASE`): a wake cannot take their slots now.
    #[diesel(sql_type = BigInt)]
    pub leased: i64,
}

/// Every announced shard with its load, by id.
pub async fn shard_loads(conn: &mut AsyncPgConnection) -> Result<Vec<ShardLoad>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT g.id, g.slots, g.seen_at,
                (SELECT count(*) FROM assistants a WHERE a.gateway_id = g.id) AS agents,
                (SELECT count(*) FROM agent_slots s
                 WHERE s.gateway_id = g.id AND s.user_id IS NOT NULL) AS resident,
                (SELECT count(*) FROM agent_slots s
                 WHERE s.gateway_id = g.id AND s.user_id IS NOT NULL
                   AND s.lease_until >= now()) AS leased
         FROM gateway_shards g ORDER BY g.id",
    )
    .load(conn)
    .await?)
}

/// Puts the user's agent on the shard with the most room — the fewest
/// agents per slot — among `candidates` announced since `alive_since`;
/// placements are serialised so a burst of signups spreads. Falls back to
/// `fallback` when no candidate is alive. Returns the shard.
///
/// Its own transaction, serialised across replicas by a transaction-scoped
/// advisory lock (`hashtext('heyclaw_placement')`). Sets
/// `assistants.gateway_id` whatever it was (even for a resident agent:
/// call it for agents not yet placed, and use [`move_agent`] to move one).
/// A user without an assistant gets nothing written, and still an answer.
pub async fn place(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    candidates: &[String],
    alive_since: DateTime<Utc>,
    fallback: &str,
) -> Result<String, PersistenceError> {
    #[derive(QueryableByName)]
    struct Picked {
        #[diesel(sql_type = Text)]
        id: String,
    }
    crate::transaction(conn, async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('heyclaw_placement'))")
            .execute(conn)
            .await?;
        let picked: Option<Picked> = diesel::sql_query(
            "SELECT g.id FROM gateway_shards g
             WHERE g.id = ANY($1) AND g.seen_at >= $2 AND g.slots > 0
             ORDER BY (SELECT count(*) FROM assistants a WHERE a.gateway_id = g.id)::float8
                      / g.slots, g.id
             LIMIT 1",
        )
        .bind::<Array<Text>, _>(candidates)
        .bind::<Timestamptz, _>(alive_since)
        .get_result(conn)
        .await
        .optional()?;
        let shard = picked.map_or_else(|| fallback.to_owned(), |p| p.id);
        diesel::update(assistants::table.filter(assistants::user_id.eq(user_id)))
            .set(assistants::gateway_id.eq(&shard))
            .execute(conn)
            .await?;
        Ok(shard)
    })
    .await
}

/// Moves a hibernated agent to another shard. False when the agent is
/// resident (bound to a slot), not `hibernated`, or does not exist. `to`
/// is not checked against announced shards.
pub async fn move_agent(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    to: &str,
) -> Result<bool, PersistenceError> {
    // Hibernated means the keeper has saved the files to `agent_files`, from
    // where any shard can load them; a resident agent stays where it is.
    let moved = diesel::sql_query(
        "UPDATE assistants SET gateway_id = $2
         WHERE user_id = $1 AND status = 'hibernated'
           AND NOT EXISTS (SELECT 1 FROM agent_slots WHERE user_id = $1)",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<Text, _>(to)
    .execute(conn)
    .await?;
    Ok(moved == 1)
}

// --- The keeper's side -------------------------------------------------------

/// A keeper announces its shard: `slots` slot rows exist (slots past the
/// count are dropped when free), and `seen_at` says it is alive.
///
/// Its own transaction; idempotent. Slots past `slots` that still have a
/// user stay until released.
pub async fn announce(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    slots: i32,
    now: DateTime<Utc>,
) -> Result<(), PersistenceError> {
    crate::transaction(conn, async |conn| {
        diesel::insert_into(gateway_shards::table)
            .values((
                gateway_shards::id.eq(gateway_id),
                gateway_shards::slots.eq(slots),
                gateway_shards::seen_at.eq(now),
            ))
            .on_conflict(gateway_shards::id)
            .do_update()
            .set((
                gateway_shards::slots.eq(slots),
                gateway_shards::seen_at.eq(now),
            ))
            .execute(conn)
            .await?;
        diesel::sql_query(
            "INSERT INTO agent_slots (gateway_id, slot)
             SELECT $1, n FROM generate_series(0, $2 - 1) AS n
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(gateway_id)
        .bind::<Int4, _>(slots)
        .execute(conn)
        .await?;
        diesel::delete(
            agent_slots::table
                .filter(agent_slots::gateway_id.eq(gateway_id))
                .filter(agent_slots::slot.ge(slots))
                .filter(agent_slots::user_id.is_null()),
        )
        .execute(conn)
        .await?;
        Ok(())
    })
    .await
}

/// One slot as the keeper must make it: who should be in it, and what of
/// that user its files carry.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DesiredSlot {
    /// The slot number.
    #[diesel(sql_type = Int4)]
    pub slot: i32,
    /// Who should be in it; `None`: nobody (empty it).
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub user_id: Option<Uuid>,
    /// The binding's generation (pass it to [`mark_ready`]).
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    /// `free`, `binding` or `ready`.
    #[diesel(sql_type = Text)]
    pub state: String,
    /// The bound user's name, for their workspace; `None` without a user
    /// or a name.
    #[diesel(sql_type = Nullable<Text>)]
    pub user_name: Option<String>,
    /// The bound user's IANA time zone; `None` without a user.
    #[diesel(sql_type = Nullable<Text>)]
    pub timezone: Option<String>,
}

/// Every slot of the shard as it should be, by slot number: what the keeper
/// reconciles the gateway's files against.
pub async fn desired(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
) -> Result<Vec<DesiredSlot>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT s.slot, s.user_id, s.generation, s.state, u.name AS user_name, u.timezone
         FROM agent_slots s LEFT JOIN users u ON u.id = s.user_id
         WHERE s.gateway_id = $1 ORDER BY s.slot",
    )
    .bind::<Text, _>(gateway_id)
    .load(conn)
    .await?)
}

/// The keeper has moved the user's files in: the binding is ready. False
/// when the slot has moved on meanwhile.
pub async fn mark_ready(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    slot: i32,
    generation: i64,
) -> Result<bool, PersistenceError> {
    Ok(diesel::update(
        agent_slots::table
            .filter(agent_slots::gateway_id.eq(gateway_id))
            .filter(agent_slots::slot.eq(slot))
            .filter(agent_slots::generation.eq(generation))
            .filter(agent_slots::user_id.is_not_null()),
    )
    .set(agent_slots::state.eq(STATE_READY))
    .execute(conn)
    .await?
        == 1)
}

/// Marks [`STATE_FREE`] those of `slots` that nobody should be in, once the
/// keeper has emptied them; slots bound meanwhile are left alone.
pub async fn mark_empty_free(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    slots: &[i32],
) -> Result<(), PersistenceError> {
    diesel::update(
        agent_slots::table
            .filter(agent_slots::gateway_id.eq(gateway_id))
            .filter(agent_slots::slot.eq_any(slots))
            .filter(agent_slots::user_id.is_null()),
    )
    .set(agent_slots::state.eq(STATE_FREE))
    .execute(conn)
    .await?;
    Ok(())
}

/// Unbinds users whose lease has passed and who have not been used since
/// `idle_before`. Returns how many. Each release bumps the slot's
/// generation (the old binding's state then reads `None`) and tells the
/// keeper (`NOTIFY heyclaw_slots`); the assistants' status is updated later
/// by [`mark_hibernated`], once their files are saved.
pub async fn release_idle(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
    now: DateTime<Utc>,
    idle_before: DateTime<Utc>,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        agent_slots::table
            .filter(agent_slots::gateway_id.eq(gateway_id))
            .filter(agent_slots::user_id.is_not_null())
            .filter(agent_slots::lease_until.lt(now))
            .filter(agent_slots::last_used_at.lt(idle_before)),
    )
    .set((
        agent_slots::user_id.eq(None::<Uuid>),
        agent_slots::generation.eq(agent_slots::generation + 1),
        agent_slots::state.eq(STATE_FREE),
    ))
    .execute(conn)
    .await?)
}

/// Marks hibernated those of `users` that are bound to no slot now (their
/// files were just saved).
pub async fn mark_hibernated(
    conn: &mut AsyncPgConnection,
    users: &[Uuid],
) -> Result<(), PersistenceError> {
    diesel::sql_query(
        "UPDATE assistants SET status = $2
         WHERE user_id = ANY($1) AND status <> $2
           AND NOT EXISTS (SELECT 1 FROM agent_slots s WHERE s.user_id = assistants.user_id)",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(users)
    .bind::<Text, _>(STATUS_HIBERNATED)
    .execute(conn)
    .await?;
    Ok(())
}
