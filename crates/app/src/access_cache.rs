//! What an access token resolves to, cached in the process so the message
//! path needs no Postgres round trip: whether the user is active and the
//! token's login session live, and the user's assistant, plan and limits.
//!
//! Correctness comes first: an entry is evicted *at once* when anything it
//! holds changes — suspension, deletion, a revoked session, a plan or
//! personality change — in any replica, through Postgres triggers and
//! `LISTEN heyclaw_user` ([`AccessCache::start_listening`]). While that
//! connection is down the cache is bypassed (and emptied). A load that raced
//! with an eviction is not stored. Entries also expire after the TTL, which
//! bounds what time alone changes (a paid period ending).

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use heyclaw_persistence::{
    models::{Assistant, PlanLimitsRow},
    notify::{UserChange, user_changes},
};
use uuid::Uuid;

/// The assistant, the plan in force and its limits.
pub type MessageContext = (Assistant, String, PlanLimitsRow);

/// Most users held; past it the cache starts over (it is only a cache).
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
struct Entry {
    loaded: Option<Instant>,
    /// `(status, session live)` per login session.
    sessions: HashMap<Uuid, (String, bool)>,
    context: Option<MessageContext>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    /// When (in eviction generations) each user was last evicted.
    evicted: HashMap<Uuid, u64>,
    /// The last generation at which everything was evicted.
    all_evicted: u64,
}

/// The per-process cache of what access tokens resolve to. Cheap to clone
/// (clones share the entries); share one per process between
/// [`crate::accounts::Accounts`], [`crate::billing::Billing`], and the
/// message and voice paths. At most 200 000 users are held; past that the
/// cache empties and starts over.
#[derive(Clone)]
pub struct AccessCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    /// True only while the change listener is connected.
    live: AtomicBool,
    generation: AtomicU64,
    state: Mutex<State>,
}

impl AccessCache {
    /// A cache whose entries live at most `ttl` (zero: never cache). It
    /// caches nothing until [`AccessCache::start_listening`] is connected.
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                live: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Listens for changes (its own connection to `database_url`) until the
    /// process ends, reconnecting after a loss; the cache is in use only
    /// while connected. Returns once the first connection is made (or
    /// `wait` has passed), so a fresh server caches from its first request.
    ///
    /// The listener is a spawned task that never ends on its own (it
    /// reconnects with backoff up to 5 s); the returned handle is only for
    /// aborting it. Every (re)connection empties the cache, since changes
    /// may have been missed meanwhile. With a zero TTL there is no point in
    /// calling this.
    pub async fn start_listening(
        &self,
        database_url: String,
        wait: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        let (connected, first) = tokio::sync::oneshot::channel::<()>();
        let mut connected = Some(connected);
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match user_changes(&database_url).await {
                    Ok(changes) => {
                        cache.evict_all();
                        cache.inner.live.store(true, Ordering::SeqCst);
                        if let Some(connected) = connected.take() {
                            let _ = connected.send(());
                        }
                        tracing::debug!("access cache listening for changes");
                        backoff = Duration::from_millis(100);
                        let mut changes = std::pin::pin!(changes);
                        while let Some(change) = changes.next().await {
                            match change {
                                Ok(UserChange::User(user)) => cache.evict(user),
                                Ok(UserChange::All) => cache.evict_all(),
                                Err(err) => {
                                    tracing::warn!(error = %err, "access cache lost its change feed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(err) => tracing::debug!(error = %err, "access cache cannot listen yet"),
                }
                cache.inner.live.store(false, Ordering::SeqCst);
                cache.evict_all();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        let _ = tokio::time::timeout(wait, first).await;
        task
    }

    fn usable(&self) -> bool {
        !self.inner.ttl.is_zero() && self.inner.live.load(Ordering::SeqCst)
    }

    /// `(status, session live)` of `user`'s session `family`, from the cache
    /// or `load`.
    ///
    /// `load` is awaited only on a miss (or when the cache is not in use);
    /// what it finds is kept unless the user was evicted while it ran. A
    /// `None` (no such user) is never cached.
    ///
    /// # Errors
    ///
    /// Whatever `load` fails with; nothing is cached then.
    pub async fn session<E>(
        &self,
        user: Uuid,
        family: Uuid,
        load: impl Future<Output = Result<Option<(String, bool)>, E>>,
    ) -> Result<Option<(String, bool)>, E> {
        if let Some(found) = self.read(user, |entry| entry.sessions.get(&family).cloned()) {
            return Ok(Some(found));
        }
        let started = self.inner.generation.load(Ordering::SeqCst);
        let loaded = load.await?;
        if let Some(found) = &loaded {
            self.write(user, started, |entry| {
                entry.sessions.insert(family, found.clone());
            });
        }
        Ok(loaded)
    }

    /// The user's assistant, plan and limits, from the cache or `load`,
    /// with the same rules as [`AccessCache::session`]. The plan is the one
    /// in force when it was loaded: a paid period ending is noticed within
    /// the TTL.
    ///
    /// # Errors
    ///
    /// Whatever `load` fails with; nothing is cached then.
    pub async fn message_context<E>(
        &self,
        user: Uuid,
        load: impl Future<Output = Result<Option<MessageContext>, E>>,
    ) -> Result<Option<MessageContext>, E> {
        if let Some(found) = self.read(user, |entry| entry.context.clone()) {
            return Ok(Some(found));
        }
        let started = self.inner.generation.load(Ordering::SeqCst);
        let loaded = load.await?;
        if let Some(found) = &loaded {
            self.write(user, started, |entry| entry.context = Some(found.clone()));
        }
        Ok(loaded)
    }

    fn read<T>(&self, user: Uuid, pick: impl FnOnce(&Entry) -> Option<T>) -> Option<T> {
        if !self.usable() {
            return None;
        }
        let state = self.inner.state.lock().ok()?;
        let entry = state.entries.get(&user)?;
        let fresh = entry.loaded.is_some_and(|at| at.elapsed() < self.inner.ttl);
        if fresh { pick(entry) } else { None }
    }

    /// Stores what a load that began at generation `started` found, unless
    /// the user (or everyone) was evicted since: the load may have read the
    /// old state.
    fn write(&self, user: Uuid, started: u64, fill: impl FnOnce(&mut Entry)) {
        if !self.usable() {
            return;
        }
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        if state.all_evicted > started || state.evicted.get(&user).is_some_and(|at| *at > started) {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        let entry = state.entries.entry(user).or_default();
        let expired = entry.loaded.is_none_or(|at| at.elapsed() >= self.inner.ttl);
        if expired {
            *entry = Entry {
                loaded: Some(Instant::now()),
                ..Entry::default()
            };
        }
        fill(entry);
    }

    /// Forgets everything about `user`, and keeps a load already under way
    /// from storing what it read. Call it after the commit of a change this
    /// replica made (the other replicas hear of it from Postgres).
    pub fn evict(&self, user: Uuid) {
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut state) = self.inner.state.lock() {
            state.entries.remove(&user);
            if state.evicted.len() >= MAX_ENTRIES {
                // Forget old evictions, conservatively: as if all happened now.
                state.evicted.clear();
                state.all_evicted = generation;
            }
            state.evicted.insert(user, generation);
        }
    }

    /// Forgets everything, including what loads under way would store.
    pub fn evict_all(&self) {
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut state) = self.inner.state.lock() {
            state.entries.clear();
            state.evicted.clear();
            state.all_evicted = generation;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ttl: Duration) -> AccessCache {
        let cache = AccessCache::new(ttl);
        cache.inner.live.store(true, Ordering::SeqCst);
        cache
    }

    async fn session(cache: &AccessCache, user: Uuid, status: &str) -> (String, bool) {
        cache
            .session(user, user, async {
                Ok::<_, ()>(Some((status.to_owned(), true)))
            })
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn serves_what_it_loaded_until_evicted() {
        let cache = live(Duration::from_secs(60));
        let user = Uuid::new_v4();
        assert_eq!(session(&cache, user, "active").await.0, "active");
        assert_eq!(
            session(&cache, user, "suspended").await.0,
            "active",
            "cached"
        );
        cache.evict(user);
        assert_eq!(session(&cache, user, "suspended").await.0, "suspended");
    }

    #[tokio::test]
    async fn a_load_that_raced_with_an_eviction_is_not_kept() {
        let cache = live(Duration::from_secs(60));
        let user = Uuid::new_v4();
        let racing = cache.clone();
        let loaded = cache
            .session(user, user, async move {
                // The change lands while the old state is being read.
                racing.evict(user);
                Ok::<_, ()>(Some(("active".to_owned(), true)))
            })
            .await
            .unwrap();
        assert_eq!(loaded.unwrap().0, "active");
        assert_eq!(
            session(&cache, user, "suspended").await.0,
            "suspended",
            "not cached"
        );
    }

    #[tokio::test]
    async fn without_a_live_change_feed_nothing_is_cached() {
        let cache = AccessCache::new(Duration::from_secs(60));
        let user = Uuid::new_v4();
        session(&cache, user, "active").await;
        assert_eq!(session(&cache, user, "suspended").await.0, "suspended");
    }
}
