//! `cargo xtask agents list|move`: the shards and their agents, and moving
//! an idle agent to another shard. Against `DATABASE_URL` (dev defaults
//! when unset). Moving needs nothing of either shard's files: a hibernated
//! agent's workspace is archived in the database, and the new shard's
//! keeper loads it at the next wake.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use heyclaw_persistence::queries::{accounts, slots};

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// Each shard: slots, agents placed on it, agents resident, last seen.
    List,
    /// Move a hibernated agent to another shard.
    Move {
        /// The user: e-mail address or id.
        user: String,
        /// The shard to move to (a `GATEWAY_ID`).
        #[arg(long)]
        to: String,
    },
}

pub fn run(command: AgentsCommand) -> Result<()> {
    let env = crate::dev::environment()?;
    let url = env.get("DATABASE_URL").context("DATABASE_URL")?.clone();
    crate::runtime()?.block_on(async {
        let mut conn = heyclaw_persistence::establish(&url)
            .await
            .context("connecting to DATABASE_URL")?;
        match command {
            AgentsCommand::List => {
                println!(
                    "{:<16} {:>6} {:>8} {:>9} {:>7}  last seen",
                    "shard", "slots", "agents", "resident", "leased"
                );
                for shard in slots::shard_loads(&mut conn).await? {
                    println!(
                        "{:<16} {:>6} {:>8} {:>9} {:>7}  {}",
                        shard.id,
                        shard.slots,
                        shard.agents,
                        shard.resident,
                        shard.leased,
                        shard.seen_at
                    );
                }
                Ok(())
            }
            AgentsCommand::Move { user, to } => {
                let shards = slots::shard_loads(&mut conn).await?;
                if !shards.iter().any(|shard| shard.id == to) {
                    bail!("no shard {to:?} has announced itself (cargo xtask agents list)");
                }
                let found = match user.parse::<uuid::Uuid>() {
                    Ok(id) => accounts::find_by_id(&mut conn, id).await?,
                    Err(_) => accounts::find_by_email(&mut conn, &user.to_lowercase()).await?,
                };
                let found = found.with_context(|| format!("no user {user:?}"))?;
                if slots::move_agent(&mut conn, found.id, &to).await? {
                    println!("moved the agent of {} to shard {to}", found.email);
                    Ok(())
                } else {
                    bail!(
                        "the agent of {} is resident (or not placed yet); it can move once it \
                         is hibernated — after AGENT_IDLE_TIMEOUT without turns",
                        found.email
                    )
                }
            }
        }
    })
}
