use std::process::ExitCode;

use sessions::config::{Command, Config, KeysCommand};
use sessions::{app, graphql, telemetry};

/// The service's allocator. With glibc's, the first large allocation after a bulk close
/// (a million sessions' data freed) consolidated millions of small free chunks at once, and
/// requests queued behind it for 100–240 ms; mimalloc frees into per-page lists and has no
/// such step. It also opens sessions faster (README "Performance").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Config::from_cli();
    let config = match cli.command {
        Some(Command::Schema) => {
            print!("{}", graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Some(Command::Keys(KeysCommand::New { name, scopes })) => {
            let (secret, line) = sessions::auth::keys::new_key(&name, scopes);
            // The secret alone on stdout's first line and the file's line on the second, so
            // scripts can split them; the advice goes to stderr.
            println!("{secret}\n{line}");
            eprintln!(
                "Keep the secret (first line) where the client can read it: it is shown only now.\n\
                 Add the second line to the keys file (--api-keys-file), then send SIGHUP to a \
                 running service (or restart it)."
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Serve(config)) => *config,
        None => cli.serve,
    };
    // Held to the end: dropping it writes the log lines still batched.
    let _logs = telemetry::init(config.log_format);
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
