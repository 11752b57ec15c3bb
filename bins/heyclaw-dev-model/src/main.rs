use clap::Parser;

#[derive(Parser)]
#[command(about = "Offline deterministic OpenAI-compatible model for HeyClaw dev runs")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 18790)]
    port: u16,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = std::net::TcpListener::bind((cli.host.as_str(), cli.port))?;
    println!(
        "heyclaw-dev-model listening on http://{}:{}/v1",
        cli.host, cli.port
    );
    heyclaw_dev_model::serve(listener).await
}
