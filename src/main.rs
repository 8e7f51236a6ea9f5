use std::process::ExitCode;

use sessions::config::{Command, Config};
use sessions::{app, graphql, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Config::from_cli();
    let config = match cli.command {
        Some(Command::Schema) => {
            print!("{}", graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Some(Command::Serve(config)) => *config,
        None => cli.serve,
    };
    telemetry::init();
    if let Err(error) = serve(&config).await {
        // One line, causes included: "error: --store postgres://app:***@db/s: …".
        eprintln!("error: {}", one_line(&error));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let app = app::build(config).await?;
    app.serve(app::shutdown_signal()).await?;
    Ok(())
}

/// The error and its causes on one line, each said once (some causes repeat their source).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !line.ends_with(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    line
}
