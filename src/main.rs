use sessions::config::{Command, Config};
use sessions::{app, graphql, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Config::from_cli();
    let config = match cli.command {
        Some(Command::Schema) => {
            print!("{}", graphql::sdl());
            return Ok(());
        }
        Some(Command::Serve(config)) => config,
        None => cli.serve,
    };
    telemetry::init();
    let app = app::build(&config).await?;
    app.serve(app::shutdown_signal()).await?;
    Ok(())
}
