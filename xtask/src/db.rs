use anyhow::{Context, Result};
use clap::Subcommand;
use heyclaw_persistence::admin;

/// The local development database, used when DATABASE_URL is unset.
pub const DEV_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/heyclaw";

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create the database if it is missing, then migrate it (idempotent).
    Setup,
    /// Apply pending migrations.
    Migrate,
    /// Drop the database and set it up again. Destroys its data.
    Reset,
}

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEV_DATABASE_URL.to_owned())
}

pub fn run(command: DbCommand) -> Result<()> {
    let url = database_url();
    crate::runtime()?.block_on(async {
        match command {
            DbCommand::Setup => setup(&url).await,
            DbCommand::Migrate => migrate(&url).await,
            DbCommand::Reset => {
                let (mut maintenance, name) = maintenance_connection(&url).await?;
                admin::drop_database(&mut maintenance, &name).await?;
                println!("dropped database {name}");
                setup(&url).await
            }
        }
    })
}

pub async fn setup(url: &str) -> Result<()> {
    let (mut maintenance, name) = maintenance_connection(url).await?;
    if admin::database_exists(&mut maintenance, &name).await? {
        println!("database {name} exists");
    } else {
        admin::create_database(&mut maintenance, &name, None).await?;
        println!("created database {name}");
    }
    migrate(url).await
}

pub async fn migrate(url: &str) -> Result<()> {
    let conn = heyclaw_persistence::establish(url).await?;
    let applied = heyclaw_persistence::run_migrations(conn).await?;
    println!("applied {applied} migration(s)");
    Ok(())
}

/// A connection to the server's `postgres` database, to create or drop the
/// database named in `url`.
async fn maintenance_connection(
    url: &str,
) -> Result<(heyclaw_persistence::AsyncPgConnection, String)> {
    let name = admin::database_name(url)
        .context("DATABASE_URL names no database")?
        .to_owned();
    let conn = heyclaw_persistence::establish(&admin::with_database(url, "postgres")).await?;
    Ok((conn, name))
}
