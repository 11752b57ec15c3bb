//! Taking users over from the original Node server (`cargo xtask
//! import-original`): its database is read (never written, one snapshot)
//! and its users, plans, agents, today's usage, chats and automation results
//! are written here in batches, in one transaction. Importing again updates
//! what changed and adds what is new; `dry_run` does all of it and rolls
//! back, so its report is the real one. Workspace files
//! ([`ImportOptions::workspaces_from`]) are archived after that transaction
//! has committed, each user's in a write of its own.
//!
//! What it decides, row by row, and reports:
//! - e-mails are normalised; accounts whose e-mails differ only in case are
//!   never merged: the oldest is kept, the newer ones are skipped;
//! - bcrypt password hashes are kept as they are (login accepts them and
//!   replaces them with argon2id); the placeholders of e-mail-code and Apple
//!   accounts (`otp-auth`, `apple-auth`) become "no password";
//! - a paid plan without an Apple transaction id was granted on the client's
//!   word: it is imported as it is, and flagged;
//! - agents keep their `agent-<uuid>` ids and start hibernated on this
//!   deployment's shard; each wakes on its first turn, from its workspace
//!   archived by `--workspaces` (else from the templates);
//! - chat messages of odd shapes are skipped and reported, never a failed
//!   import.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use heyclaw_agent_provisioning::read_workspace;
use heyclaw_domain::{AgentId, Email, UserId, Voice, check_avatar_url};
use heyclaw_persistence::{
    AsyncPgConnection, PersistenceError, original,
    queries::{
        accounts::DEFAULT_ASSISTANT_NAME,
        agent_files,
        assistants::STATUS_HIBERNATED,
        import::{self, Assistants, Chats, Results, Subscriptions, Usage, Users},
        subscriptions::plan_names,
    },
};
use serde_json::Value;
use uuid::Uuid;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Do everything, then roll back: the report says what would happen.
    pub dry_run: bool,
    /// Rows per write.
    pub batch_size: usize,
    /// The shard new agents are placed on (`assistants.gateway_id`).
    pub gateway_id: String,
    /// Usage of this UTC day is carried over (older days are history).
    pub today: NaiveDate,
    /// Archive workspaces from here (a user's archive is never replaced).
    pub workspaces_from: Option<PathBuf>,
}

/// Rows of one table: read from the original, written here, skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCount {
    /// Rows read from the original.
    pub read: usize,
    /// Rows inserted or updated here.
    pub written: usize,
    /// Rows not imported (each listed in [`ImportReport::skipped`]).
    pub skipped: usize,
}

/// A row not imported, and why.
///
/// Also used for rows imported with a change worth a look (an unknown
/// password format, an unknown plan, a foreign Apple transaction dropped):
/// the reason says so, and the row is not counted as skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The table (`users`, `subscriptions`, `chat_messages`, …).
    pub table: &'static str,
    /// The row's id in the original (`<session>#<index>` for a message).
    pub id: String,
    /// What happened to it, for the operator.
    pub reason: String,
}

/// A paid plan without an Apple transaction (granted on the client's word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    /// The user's id (the same here as in the original).
    pub user_id: Uuid,
    /// Their normalised e-mail.
    pub email: String,
    /// The paid plan imported.
    pub plan: String,
}

/// What an import did (or, for a dry run, would do). Its [`Display`]
/// is the table the `import-original` command prints.
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Nothing was kept: the transaction was rolled back.
    pub dry_run: bool,
    /// Counts per table.
    pub tables: BTreeMap<&'static str, TableCount>,
    /// Rows not imported, and rows imported with a change, with reasons.
    pub skipped: Vec<Skipped>,
    /// Paid plans without an Apple transaction, to check by hand.
    pub flagged: Vec<Flagged>,
    /// Workspace files archived (for a dry run: that would be).
    pub files_copied: usize,
    /// Workspace files not archived because the user already has an
    /// archive here.
    pub files_kept: usize,
    /// How long the import took.
    pub took: Duration,
}

impl ImportReport {
    fn count(&mut self, table: &'static str) -> &mut TableCount {
        self.tables.entry(table).or_default()
    }

    /// Rows of `table` written so far.
    pub fn written(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |count| count.written)
    }

    fn skip(&mut self, table: &'static str, id: impl fmt::Display, reason: impl Into<String>) {
        self.count(table).skipped += 1;
        self.skipped.push(Skipped {
            table,
            id: id.to_string(),
            reason: reason.into(),
        });
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "import-original {}: {:.1?}",
            if self.dry_run {
                "(dry run, nothing written)"
            } else {
                "done"
            },
            self.took
        )?;
        writeln!(
            f,
            "{:<20} {:>8} {:>8} {:>8}",
            "table", "read", "written", "skipped"
        )?;
        for (table, count) in &self.tables {
            writeln!(
                f,
                "{table:<20} {:>8} {:>8} {:>8}",
                count.read, count.written, count.skipped
            )?;
        }
        writeln!(
            f,
            "workspace files: {} archived, {} kept (already here)",
            self.files_copied, self.files_kept
        )?;
        if !self.flagged.is_empty() {
            writeln!(
                f,
                "\npaid plans without an Apple transaction (granted on the client's word; check them):"
            )?;
            for flag in &self.flagged {
                writeln!(f, "  {} {} {}", flag.user_id, flag.email, flag.plan)?;
            }
        }
        if !self.skipped.is_empty() {
            writeln!(f, "\nskipped:")?;
            for skip in &self.skipped {
                writeln!(f, "  {} {}: {}", skip.table, skip.id, skip.reason)?;
            }
        }
        Ok(())
    }
}

/// Why the import stopped. Rows are all written or none (workspaces aside:
/// see [`ImportError::Workspaces`]).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source is not the original server's database; nothing was
    /// written.
    #[error("the source database does not look like the original's (no users.apple_user_id)")]
    NotOriginal,
    /// Reading the source or writing here failed. The rows' transaction was
    /// rolled back, unless the failure came while archiving workspaces.
    #[error(transparent)]
    Storage(#[from] PersistenceError),
    /// A workspace directory could not be read. The rows were already
    /// committed, and so were the workspaces archived before it; importing
    /// again finishes the job (archives are never replaced).
    #[error("copying workspaces: {0}")]
    Workspaces(String),
    /// Internal: ends a dry run's transaction with a rollback.
    /// [`import_original`] never returns it.
    #[error("dry run")]
    DryRun(Box<(ImportReport, Vec<Uuid>)>),
}

const PLACEHOLDER_HASHES: &[&str] = &["otp-auth", "apple-auth"];

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// Imports everything; see the module docs. `progress` hears one line per
/// step and batch.
///
/// `source` is read in one read-only snapshot and never written; `target`
/// gets every row in one transaction (rolled back for a dry run). Users
/// keep their ids. Safe to run again: rows are upserted, and a workspace
/// archive already here is kept.
///
/// # Errors
///
/// [`ImportError::NotOriginal`] when `source` is not the original's
/// database; [`ImportError::Storage`] when a read or write fails (nothing
/// is kept, unless it was while archiving workspaces);
/// [`ImportError::Workspaces`] when a workspace cannot be read (the rows
/// are kept).
pub async fn import_original(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    if !original::looks_original(source).await? {
        return Err(ImportError::NotOriginal);
    }
    original::begin_snapshot(source).await?;
    let outcome = heyclaw_persistence::transaction::<_, ImportError, _>(target, async |target| {
        let mut report = ImportReport {
            dry_run: options.dry_run,
            ..ImportReport::default()
        };
        let imported = import_users(source, target, options, &mut report, progress).await?;
        import_subscriptions(source, target, options, &imported, &mut report, progress).await?;
        import_assistants(source, target, options, &imported, &mut report, progress).await?;
        import_usage(source, target, options, &imported, &mut report, progress).await?;
        import_chats(source, target, options, &imported, &mut report, progress).await?;
        import_results(source, target, options, &imported, &mut report, progress).await?;
        let users: Vec<Uuid> = imported.into_keys().collect();
        if options.dry_run {
            return Err(ImportError::DryRun(Box::new((report, users))));
        }
        Ok((report, users))
    })
    .await;
    original::end_snapshot(source).await?;
    let (mut report, users) = match outcome {
        Ok(done) => done,
        Err(ImportError::DryRun(done)) => *done,
        Err(err) => return Err(err),
    };
    if let Some(from) = &options.workspaces_from {
        archive_workspaces(target, from, &users, options.dry_run, &mut report).await?;
    }
    report.took = started.elapsed();
    Ok(report)
}

/// Users: normalised, deduplicated, upserted. Returns the imported ids with
/// their e-mails.
async fn import_users(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<HashMap<Uuid, String>, ImportError> {
    let users = original::users(source).await?;
    report.count("users").read = users.len();
    progress(&format!("users: {} to import", users.len()));
    // Oldest first: of two e-mails differing only in case, the older account
    // is kept.
    let mut by_email: HashMap<String, Uuid> = HashMap::new();
    let mut kept = Vec::new();
    for user in users {
        let Ok(email) = Email::parse(&user.email) else {
            report.skip("users", user.id, format!("invalid e-mail {:?}", user.email));
            continue;
        };
        let email = email.as_str().to_owned();
        if let Some(first) = by_email.get(&email) {
            report.skip(
                "users",
                user.id,
                format!(
                    "e-mail {email} differs only in case from the older account {first}; not merged"
                ),
            );
            continue;
        }
        by_email.insert(email.clone(), user.id);
        kept.push((user, email));
    }
    let mut imported = HashMap::new();
    for batch in kept.chunks(options.batch_size.max(1)) {
        let emails: Vec<String> = batch.iter().map(|(_, email)| email.clone()).collect();
        let taken: HashMap<String, Uuid> = import::owners_of_emails(target, &emails)
            .await?
            .into_iter()
            .collect();
        let subs: Vec<String> = batch
            .iter()
            .filter_map(|(user, _)| user.apple_user_id.clone())
            .collect();
        let sub_taken: HashMap<String, Uuid> = import::owners_of_apple_subs(target, &subs)
            .await?
            .into_iter()
            .collect();
        let mut rows = Users::default();
        for (user, email) in batch {
            if let Some(owner) = taken.get(email).filter(|owner| **owner != user.id) {
                report.skip(
                    "users",
                    user.id,
                    format!("{email} already has an account here ({owner})"),
                );
                continue;
            }
            let apple_sub = match &user.apple_user_id {
                Some(sub) if sub_taken.get(sub).is_some_and(|owner| *owner != user.id) => {
                    report.skip(
                        "users",
                        user.id,
                        "its Apple ID already signs in to another account here",
                    );
                    continue;
                }
                other => other.clone(),
            };
            let password_hash = match user.password_hash.as_str() {
                hash if crate::auth::passwords::is_legacy_hash(hash) => Some(hash.to_owned()),
                hash if PLACEHOLDER_HASHES.contains(&hash) => None,
                _ => {
                    report.skipped.push(Skipped {
                        table: "users",
                        id: user.id.to_string(),
                        reason: "unknown password hash format: imported without a password (signs in by e-mail code or resets it)".to_owned(),
                    });
                    None
                }
            };
            rows.id.push(user.id);
            rows.email.push(email.clone());
            rows.name.push(
                user.name
                    .as_deref()
                    .map(clean_text(100))
                    .filter(|n| !n.is_empty()),
            );
            rows.password_hash.push(password_hash);
            rows.apple_sub.push(apple_sub);
            rows.avatar_url.push(
                user.avatar_url
                    .as_deref()
                    .and_then(|url| check_avatar_url(url).ok()),
            );
            rows.status.push(match user.status.as_deref() {
                Some("suspended") => "suspended".to_owned(),
                _ => "active".to_owned(),
            });
            rows.created_at.push(utc(user.created_at));
            imported.insert(user.id, email.clone());
        }
        report.count("users").written += import::upsert_users(target, &rows).await?;
        progress(&format!("users: {} written", report.written("users")));
    }
    Ok(imported)
}

/// Keeps printable characters, at most `max` of them.
fn clean_text(max: usize) -> impl Fn(&str) -> String {
    move |text| {
        text.trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(max)
            .collect()
    }
}

async fn import_subscriptions(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    imported: &HashMap<Uuid, String>,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImportError> {
    let plans: HashSet<String> = plan_names(target).await?.into_iter().collect();
    let mut found: HashMap<Uuid, original::OriginalSubscription> = HashMap::new();
    let rows = original::subscriptions(source).await?;
    report.count("subscriptions").read = rows.len();
    for row in rows {
        if imported.contains_key(&row.user_id) {
            found.insert(row.user_id, row);
        } else {
            report.skip("subscriptions", row.user_id, "its user was not imported");
        }
    }
    let mut transactions_seen: HashSet<String> = HashSet::new();
    let mut users: Vec<&Uuid> = imported.keys().collect();
    users.sort();
    for batch in users.chunks(options.batch_size.max(1)) {
        let ids: Vec<String> = batch
            .iter()
            .filter_map(|user| found.get(user)?.apple_original_transaction_id.clone())
            .collect();
        let linked: HashMap<String, Uuid> = import::owners_of_transactions(target, &ids)
            .await?
            .into_iter()
            .collect();
        let mut rows = Subscriptions::default();
        for user in batch {
            let row = found.get(user);
            let mut plan = row
                .and_then(|r| r.plan.clone())
                .unwrap_or_else(|| "free".to_owned());
            if !plans.contains(&plan) {
                report.skipped.push(Skipped {
                    table: "subscriptions",
                    id: user.to_string(),
                    reason: format!("unknown plan {plan:?}: imported as free"),
                });
                plan = "free".to_owned();
            }
            let status = match row.and_then(|r| r.status.as_deref()) {
                None | Some("active" | "canceled" | "cancelled") => "active",
                Some(
                    known @ ("expired" | "refunded" | "revoked" | "grace_period" | "billing_retry"),
                ) => known,
                Some(_) => "expired",
            };
            if matches!(status, "expired" | "refunded" | "revoked") {
                plan = "free".to_owned();
            }
            let mut transaction = row.and_then(|r| r.apple_original_transaction_id.clone());
            if let Some(id) = &transaction
                && (!transactions_seen.insert(id.clone())
                    || linked.get(id).is_some_and(|owner| owner != *user))
            {
                report.skipped.push(Skipped {
                    table: "subscriptions",
                    id: user.to_string(),
                    reason: format!(
                        "Apple transaction {id} belongs to another account: imported without it"
                    ),
                });
                transaction = None;
            }
            if plan != "free" && transaction.is_none() {
                report.flagged.push(Flagged {
                    user_id: **user,
                    email: imported.get(user).cloned().unwrap_or_default(),
                    plan: plan.clone(),
                });
            }
            rows.user_id.push(**user);
            rows.plan.push(plan);
            rows.status.push(status.to_owned());
            rows.original_transaction_id.push(transaction);
            rows.product_id
                .push(row.and_then(|r| r.apple_product_id.clone()));
            rows.period_end
                .push(row.and_then(|r| r.period_end).map(utc));
        }
        report.count("subscriptions").written +=
            import::upsert_subscriptions(target, &rows).await?;
    }
    progress(&format!(
        "subscriptions: {} written, {} flagged",
        report.written("subscriptions"),
        report.flagged.len()
    ));
    Ok(())
}

async fn import_assistants(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    imported: &HashMap<Uuid, String>,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImportError> {
    let mut found: HashMap<Uuid, original::OriginalAssistant> = HashMap::new();
    let rows = original::assistants(source).await?;
    report.count("assistants").read = rows.len();
    for row in rows {
        if imported.contains_key(&row.user_id) {
            found.insert(row.user_id, row);
        } else {
            report.skip("assistants", row.user_id, "its user was not imported");
        }
    }
    let mut users: Vec<&Uuid> = imported.keys().collect();
    users.sort();
    for batch in users.chunks(options.batch_size.max(1)) {
        let mut rows = Assistants::default();
        for user in batch {
            let agent = AgentId::for_user(UserId(**user));
            let row = found.get(user);
            if let Some(other) = row
                .and_then(|r| r.agent_id.as_deref())
                .filter(|id| *id != agent.as_str())
            {
                report.skipped.push(Skipped {
                    table: "assistants",
                    id: user.to_string(),
                    reason: format!(
                        "agent id {other:?} is not agent-<user id>: imported as {agent}"
                    ),
                });
            }
            let name = row
                .and_then(|r| r.display_name.as_deref())
                .map(clean_text(100))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| DEFAULT_ASSISTANT_NAME.to_owned());
            let voice = row
                .and_then(|r| r.voice.as_deref())
                .and_then(|v| v.parse::<Voice>().ok())
                .unwrap_or(Voice::Nova);
            rows.user_id.push(**user);
            rows.agent_id.push(agent.as_str().to_owned());
            rows.display_name.push(name);
            rows.voice.push(voice.as_str().to_owned());
            rows.gateway_id.push(options.gateway_id.clone());
            // Every imported agent starts hibernated: it wakes on its
            // first turn, from its archived workspace (or the templates).
            rows.status.push(STATUS_HIBERNATED.to_owned());
            rows.last_active_at
                .push(row.and_then(|r| r.last_active_at).map(utc));
            rows.message_count
                .push(row.map_or(0, |r| r.message_count.max(0.0) as i64));
        }
        report.count("assistants").written += import::upsert_assistants(target, &rows).await?;
    }
    progress(&format!(
        "assistants: {} written",
        report.written("assistants")
    ));
    Ok(())
}

async fn import_usage(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    imported: &HashMap<Uuid, String>,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImportError> {
    let rows = original::usage_on(source, options.today).await?;
    report.count("daily_usage").read = rows.len();
    let whole = |value: f64| value.max(0.0).ceil().min(f64::from(i32::MAX)) as i32;
    for batch in rows.chunks(options.batch_size.max(1)) {
        let mut usage = Usage::default();
        for row in batch {
            if !imported.contains_key(&row.user_id) {
                report.skip("daily_usage", row.user_id, "its user was not imported");
                continue;
            }
            usage.user_id.push(row.user_id);
            usage.day.push(row.date);
            usage.text_messages.push(whole(row.text_messages));
            usage
                .voice_input_seconds
                .push(whole(row.voice_input_seconds));
            usage
                .voice_output_seconds
                .push(whole(row.voice_output_seconds));
            usage.tts_characters.push(whole(row.tts_characters));
        }
        report.count("daily_usage").written += import::upsert_usage(target, &usage).await?;
    }
    progress(&format!(
        "daily_usage ({}): {} written",
        options.today,
        report.written("daily_usage")
    ));
    Ok(())
}

async fn import_chats(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    imported: &HashMap<Uuid, String>,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImportError> {
    let mut after = None;
    let page = i64::try_from(options.batch_size.max(1)).unwrap_or(1000);
    loop {
        let sessions = original::chat_sessions_page(source, after, page).await?;
        let Some(last) = sessions.last() else {
            break;
        };
        after = Some(last.id);
        report.count("chat_sessions").read += sessions.len();
        let mut chats = Chats::default();
        for session in &sessions {
            if !imported.contains_key(&session.user_id) {
                report.skip("chat_sessions", session.id, "its user was not imported");
                continue;
            }
            chats.id.push(session.id);
            chats.user_id.push(session.user_id);
            chats.title.push(
                session
                    .title
                    .as_deref()
                    .map(clean_text(200))
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "New Chat".to_owned()),
            );
            chats.created_at.push(utc(session.created_at));
            chats.updated_at.push(utc(session.updated_at));
            let messages = match session
                .messages
                .as_deref()
                .map(serde_json::from_str::<Value>)
            {
                None | Some(Ok(Value::Null)) => Vec::new(),
                Some(Ok(Value::Array(messages))) => messages,
                Some(_) => {
                    report.skip(
                        "chat_messages",
                        session.id,
                        "messages is not a list: the session is imported empty",
                    );
                    Vec::new()
                }
            };
            let mut position = 0;
            for (index, message) in messages.iter().enumerate() {
                report.count("chat_messages").read += 1;
                match chat_message(message) {
                    Ok((client_id, role, content, is_voice)) => {
                        chats.message_session.push(session.id);
                        chats.message_position.push(position);
                        chats.message_client_id.push(client_id);
                        chats.message_role.push(role);
                        chats.message_content.push(content);
                        chats.message_is_voice.push(is_voice);
                        position += 1;
                        report.count("chat_messages").written += 1;
                    }
                    Err(reason) => {
                        report.skip("chat_messages", format!("{}#{index}", session.id), reason)
                    }
                }
            }
        }
        report.count("chat_sessions").written += import::replace_chats(target, &chats).await?;
        progress(&format!(
            "chat_sessions: {} written ({} messages)",
            report.written("chat_sessions"),
            report.written("chat_messages")
        ));
    }
    Ok(())
}

/// One message of the original's JSON: `{id?, role, content, isVoice?}`.
fn chat_message(message: &Value) -> Result<(Option<String>, String, String, bool), String> {
    let Value::Object(fields) = message else {
        return Err("not an object".to_owned());
    };
    let role = match fields.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "assistant" | "system")) => role.to_owned(),
        other => return Err(format!("role {other:?} is not user, assistant or system")),
    };
    let content = match fields.get("content") {
        Some(Value::String(text)) => text.clone(),
        other => {
            return Err(format!(
                "content is not text ({})",
                other.map_or("missing", kind)
            ));
        }
    };
    let client_id = match fields.get("id") {
        Some(Value::String(id)) => Some(id.chars().take(100).collect()),
        Some(Value::Number(id)) => Some(id.to_string()),
        _ => None,
    };
    let is_voice = fields
        .get("isVoice")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((client_id, role, content, is_voice))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

async fn import_results(
    source: &mut AsyncPgConnection,
    target: &mut AsyncPgConnection,
    options: &ImportOptions,
    imported: &HashMap<Uuid, String>,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImportError> {
    let rows = original::automation_results(source).await?;
    report.count("automation_results").read = rows.len();
    for batch in rows.chunks(options.batch_size.max(1)) {
        let mut results = Results::default();
        for row in batch {
            if !imported.contains_key(&row.user_id) {
                report.skip("automation_results", row.id, "its user was not imported");
                continue;
            }
            results.id.push(row.id);
            results.user_id.push(row.user_id);
            results.job_name.push(
                row.job_name
                    .as_deref()
                    .map(clean_text(200))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "Automation".to_owned()),
            );
            results.result.push(row.result.clone().unwrap_or_default());
            results.run_at.push(utc(row.run_at));
            results.seen.push(row.seen);
        }
        report.count("automation_results").written +=
            import::upsert_results(target, &results).await?;
    }
    progress(&format!(
        "automation_results: {} written",
        report.written("automation_results")
    ));
    Ok(())
}

/// Archives each imported user's workspace (`agent-<uuid>/`, recursively;
/// links are not followed) from `from` into `agent_files`, where their
/// agent's shard loads it from when they first wake. A user who already has
/// an archive here keeps it.
async fn archive_workspaces(
    target: &mut AsyncPgConnection,
    from: &Path,
    users: &[Uuid],
    dry_run: bool,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    for user in users {
        let agent = AgentId::for_user(UserId(*user));
        let source = from.join(agent.as_str());
        if !source.is_dir() {
            continue;
        }
        let files = read_workspace(&source)
            .map_err(|err| ImportError::Workspaces(format!("{}: {err}", source.display())))?;
        if agent_files::exists(target, *user).await? {
            report.files_kept += files.len();
            continue;
        }
        if !dry_run {
            agent_files::replace(target, *user, &files).await?;
        }
        report.files_copied += files.len();
    }
    Ok(())
}
