//! Command line and environment: one `Config`, filled by clap, with defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{Args, Parser, Subcommand};

use crate::auth::keys::parse_scopes;
use crate::auth::{Authenticator, KeysFileError, Scope};
use crate::controller::ControllerOptions;
use crate::http::{HttpOptions, MAX_BODY_BYTES};
use crate::model::{LimitPolicy, UserLimit};
use crate::server::ConnectionLimits;
use crate::store::StoreUrl;
use crate::telemetry::LogFormat;

/// `sessions`: a user-sessions service with a GraphQL API.
#[derive(Debug, Parser)]
#[command(
    name = "sessions",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, also accepted without the subcommand.
    #[command(flatten)]
    pub serve: Config,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve(Box<Config>),
    /// Print the GraphQL schema (SDL) to standard output.
    Schema,
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `sessions keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new API key: prints its secret (shown only now) and the line to add to the keys
    /// file (`--api-keys-file`); send SIGHUP to a running service to load it.
    New {
        /// The key's name, as logs and `closedBy` show it (`key:NAME`); no spaces.
        #[arg(value_parser = parse_key_name)]
        name: String,
        /// What it may do: read, write or admin, comma-separated (admin includes write,
        /// which includes read).
        #[arg(long, value_parser = parse_scopes)]
        scopes: Scope,
    },
}

/// How the service runs.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "SESSIONS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Close open sessions idle for longer than this (e.g. 30m, 24h, 7d).
    #[arg(long, env = "SESSIONS_EXPIRE_TIMEOUT", default_value = "24h", value_parser = parse_duration)]
    pub expire_timeout: Duration,
    /// Close open sessions older than this, however active (e.g. 12h, 30d); `off` for no
    /// limit.
    #[arg(long, env = "SESSIONS_MAX_LIFETIME", default_value = "off", value_parser = parse_optional_duration)]
    pub max_lifetime: OptionalDuration,
    /// A touch within this time of a session's last activity is answered without a write
    /// (e.g. 30s); 0s writes every touch.
    #[arg(long, env = "SESSIONS_TOUCH_INTERVAL", default_value = "0s", value_parser = parse_duration_or_zero)]
    pub touch_interval: Duration,
    /// Open sessions one user may hold at once; 0 for no limit.
    #[arg(long, env = "SESSIONS_MAX_SESSIONS_PER_USER", default_value_t = 0)]
    pub max_sessions_per_user: usize,
    /// What opening one more session than the per-user limit does.
    #[arg(
        long,
        env = "SESSIONS_SESSION_LIMIT_POLICY",
        value_enum,
        default_value = "evict-oldest"
    )]
    pub session_limit_policy: LimitPolicyArg,
    /// Delete closed sessions this long after they closed (e.g. 30d); `off` keeps them forever.
    #[arg(long, env = "SESSIONS_RETENTION", default_value = "30d", value_parser = parse_optional_duration)]
    pub retention: OptionalDuration,
    /// How often the background task closes expired sessions and deletes those past retention
    /// (e.g. 1m, 15m).
    #[arg(long, env = "SESSIONS_CLEANUP_INTERVAL", default_value = "15m", value_parser = parse_duration)]
    pub cleanup_interval: Duration,
    /// Largest `user` or `data` JSON, serialized (e.g. 512B, 64KiB, 1MiB; at most 1MiB).
    #[arg(long, env = "SESSIONS_MAX_PAYLOAD", default_value = "64KiB", value_parser = parse_payload_size)]
    pub max_payload: usize,
    /// Longest a request may take before it is answered with 408 (e.g. 30s).
    #[arg(long, env = "SESSIONS_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Browser origin allowed to call the API (CORS), e.g. `https://app.example.com`; repeat or
    /// separate with commas. None by default.
    #[arg(long = "allow-origin", env = "SESSIONS_ALLOW_ORIGIN", value_delimiter = ',', value_parser = parse_origin)]
    pub allow_origins: Vec<HeaderValue>,
    /// Most connections served at once; further ones wait in the listen backlog until one
    /// closes (1 to 1000000; keep it below the open-files limit, `ulimit -n`).
    #[arg(long, env = "SESSIONS_MAX_CONNECTIONS", default_value = "10000", value_parser = parse_max_connections)]
    pub max_connections: usize,
    /// Close a connection whose request line and headers take longer than this to arrive,
    /// counted from their first byte (e.g. 10s).
    #[arg(long, env = "SESSIONS_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Close a keep-alive connection that waits longer than this for its next request (e.g. 60s).
    #[arg(long, env = "SESSIONS_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Most WebSocket (subscription) connections open at once; more are refused with 503
    /// (1 to 1000000; each also counts against --max-connections).
    #[arg(long, env = "SESSIONS_MAX_WEBSOCKETS", default_value = "1000", value_parser = parse_max_connections)]
    pub max_websockets: usize,
    /// Session events a subscriber may fall behind before its subscription ends with
    /// EVENTS_LOST (1 to 1000000).
    #[arg(long, env = "SESSIONS_EVENT_BUFFER", default_value = "1024", value_parser = parse_max_connections)]
    pub event_buffer: usize,
    /// File of API keys, one `NAME SCOPES SHA256HEX` a line (make one with `sessions keys
    /// new`); turns authentication on. Re-read on SIGHUP.
    #[arg(long, env = "SESSIONS_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// Serve an address other than loopback without authentication (no keys file); only
    /// behind a private network.
    #[arg(long, env = "SESSIONS_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// With authentication on, let GraphQL introspection (`__schema`, `__type`) run without
    /// a credential.
    #[arg(long, env = "SESSIONS_PUBLIC_INTROSPECTION")]
    pub public_introspection: bool,
    /// Where sessions are kept: memory (lost at exit), sqlite://PATH (one machine; survives
    /// restarts) or postgres://USER:PASSWORD@HOST/DB (shared by several instances).
    // Checked when the store opens, not here: clap would echo the value, password and all.
    #[arg(long, env = "SESSIONS_STORE", default_value = "memory", hide_env_values = true, value_parser = parse_store)]
    pub store: StoreUrl,
    /// Log lines as `text` (for people) or `json` (one object per line, for log collectors).
    #[arg(long, env = "SESSIONS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A duration that `off` switches off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionalDuration(pub Option<Duration>);

/// `--session-limit-policy`: what opening one session over the per-user limit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitPolicyArg {
    /// Close the user's session with the oldest activity (`EVICTED`) and open the new one.
    EvictOldest,
    /// Refuse the new session with `SESSION_LIMIT_REACHED`.
    Deny,
}

impl From<LimitPolicyArg> for LimitPolicy {
    fn from(arg: LimitPolicyArg) -> Self {
        match arg {
            LimitPolicyArg::EvictOldest => Self::EvictOldest,
            LimitPolicyArg::Deny => Self::Deny,
        }
    }
}

impl Config {
    /// Read the configuration from the command line and the environment; on bad input, clap
    /// prints what is wrong and exits with status 2.
    pub fn from_cli() -> Cli {
        Cli::parse()
    }

    /// The defaults, listening on a free port of 127.0.0.1 with the memory store: for tests.
    /// Built without clap, so `SESSIONS_*` variables in the environment cannot change it.
    pub fn for_tests() -> Self {
        let controller = ControllerOptions::default();
        let http = HttpOptions::default();
        let connections = ConnectionLimits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            expire_timeout: controller.expire_timeout,
            max_lifetime: OptionalDuration(controller.max_lifetime),
            touch_interval: controller.touch_interval,
            max_sessions_per_user: 0,
            session_limit_policy: LimitPolicyArg::EvictOldest,
            retention: OptionalDuration(controller.retention),
            cleanup_interval: controller.cleanup_interval,
            max_payload: controller.max_payload,
            request_timeout: http.request_timeout,
            allow_origins: http.allow_origins,
            max_connections: connections.max_connections,
            header_timeout: connections.header_timeout,
            idle_timeout: connections.idle_timeout,
            max_websockets: http.max_websockets,
            event_buffer: crate::events::DEFAULT_CAPACITY,
            api_keys_file: None,
            insecure_no_auth: false,
            public_introspection: false,
            store: StoreUrl::new("memory"),
            log_format: LogFormat::Text,
        }
    }

    /// The controller's share of the configuration.
    pub fn controller_options(&self) -> ControllerOptions {
        let user_limit = (self.max_sessions_per_user > 0).then(|| UserLimit {
            max: self.max_sessions_per_user,
            policy: self.session_limit_policy.into(),
        });
        ControllerOptions {
            expire_timeout: self.expire_timeout,
            max_lifetime: self.max_lifetime.0,
            touch_interval: self.touch_interval,
            user_limit,
            retention: self.retention.0,
            cleanup_interval: self.cleanup_interval,
            max_payload: self.max_payload,
        }
    }

    /// The HTTP layer's share of the configuration, authentication off (the keys file is
    /// read by [`Self::authenticator`]).
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            request_timeout: self.request_timeout,
            allow_origins: self.allow_origins.clone(),
            base_path: String::new(),
            max_websockets: self.max_websockets,
            auth: Authenticator::off(),
            public_introspection: self.public_introspection,
        }
    }

    /// Authentication as configured: on with the keys of `--api-keys-file`, else off.
    ///
    /// # Errors
    /// When the keys file cannot be read or has a malformed line (named in the message).
    pub fn authenticator(&self) -> Result<Authenticator, KeysFileError> {
        match &self.api_keys_file {
            Some(path) => Authenticator::from_file(path),
            None => Ok(Authenticator::off()),
        }
    }

    /// Refuse to serve a non-loopback address with authentication off, unless
    /// `--insecure-no-auth` says so (as Redis's protected mode does).
    ///
    /// # Errors
    /// A message that says how to add keys.
    pub fn check_exposure(&self) -> Result<(), String> {
        if self.api_keys_file.is_some() || self.insecure_no_auth || self.listen.ip().is_loopback() {
            return Ok(());
        }
        Err(format!(
            "refusing to serve {} without authentication: anyone who reaches it could read and \
             close every session. Make a key with `sessions keys new NAME --scopes admin`, put \
             the line it prints in a file and pass --api-keys-file FILE (or \
             SESSIONS_API_KEYS_FILE); or listen on 127.0.0.1; or, only behind a private \
             network, pass --insecure-no-auth",
            self.listen
        ))
    }

    /// The server's share of the configuration: the connection cap and the timeouts for slow
    /// and idle clients.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 90s, 15m, 24h)"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 0s, 30s, 5m)"))
}

fn parse_optional_duration(text: &str) -> Result<OptionalDuration, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(OptionalDuration(None));
    }
    parse_duration(text)
        .map(|d| OptionalDuration(Some(d)))
        .map_err(|e| format!("{e}, or off"))
}

/// Parse sizes like `65536`, `512B`, `64KiB`, `64KB`, `1MiB` (KB and KiB both mean 1024 bytes).
fn parse_payload_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 512B, 64KiB, 1MiB)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        other => return Err(format!("unknown unit {other:?} (use B, KiB or MiB)")),
    };
    let bytes = number.checked_mul(factor).ok_or("size is too large")?;
    if bytes == 0 || bytes > MAX_BODY_BYTES {
        return Err("must be between 1B and 1MiB (the request body limit)".into());
    }
    Ok(bytes)
}

/// The most `--max-connections` accepts: Linux's default ceiling on open files per process
/// (`fs.nr_open`), far above what one instance should hold, and small enough that the
/// connection semaphore cannot overflow.
const MAX_CONNECTIONS: usize = 1_000_000;

fn parse_max_connections(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if (1..=MAX_CONNECTIONS).contains(&count) => Ok(count),
        _ => Err(format!(
            "must be a whole number from 1 to {MAX_CONNECTIONS}"
        )),
    }
}

fn parse_key_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a non-empty name without spaces".into());
    }
    Ok(text.to_owned())
}

fn parse_store(text: &str) -> Result<StoreUrl, std::convert::Infallible> {
    Ok(StoreUrl::new(text))
}

fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let text = text.trim();
    if !(text.starts_with("http://") || text.starts_with("https://")) || text.ends_with('/') {
        return Err(format!(
            "{text:?} is not an origin like https://app.example.com"
        ));
    }
    HeaderValue::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sizes_accept_common_units_and_reject_nonsense() {
        assert_eq!(parse_payload_size("64KiB"), Ok(65_536));
        assert_eq!(parse_payload_size("64kb"), Ok(65_536));
        assert_eq!(parse_payload_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_payload_size("512"), Ok(512));
        assert!(parse_payload_size("2MiB").is_err());
        assert!(parse_payload_size("0").is_err());
        assert!(parse_payload_size("lots").is_err());
        assert!(parse_payload_size("5 parsecs").is_err());
    }

    #[test]
    fn optional_durations_take_off_or_a_positive_duration() {
        assert_eq!(parse_optional_duration("off"), Ok(OptionalDuration(None)));
        assert_eq!(
            parse_optional_duration("30d"),
            Ok(OptionalDuration(Some(Duration::from_secs(30 * 86_400))))
        );
        assert!(parse_optional_duration("0s").is_err());
        assert!(parse_optional_duration("never").is_err());
    }

    #[test]
    fn a_per_user_limit_and_its_policy_reach_the_controller() {
        let cli = Cli::parse_from([
            "sessions",
            "--max-sessions-per-user",
            "3",
            "--session-limit-policy",
            "deny",
        ]);
        let limit = cli.serve.controller_options().user_limit;
        assert_eq!(
            limit,
            Some(UserLimit {
                max: 3,
                policy: LimitPolicy::Deny
            })
        );
    }

    #[test]
    fn connection_caps_are_positive_whole_numbers_within_reason() {
        assert_eq!(parse_max_connections("10000"), Ok(10_000));
        assert_eq!(parse_max_connections("1"), Ok(1));
        assert!(parse_max_connections("0").is_err());
        assert!(parse_max_connections("-5").is_err());
        assert!(parse_max_connections("10k").is_err());
        assert!(parse_max_connections("1000001").is_err());
    }

    #[test]
    fn durations_must_be_positive_and_readable() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    /// The `default_value` clap documents in `--help` for the flag with this id (read from
    /// clap's metadata, so `SESSIONS_*` variables in the environment cannot interfere).
    fn documented_default(id: &str) -> String {
        let command = <Cli as clap::CommandFactory>::command();
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .expect("flag exists");
        arg.get_default_values()[0].to_string_lossy().into_owned()
    }

    #[test]
    fn documented_defaults_are_the_ones_the_code_uses() {
        let controller = ControllerOptions::default();
        let duration = |id| parse_duration(&documented_default(id)).expect("valid default");
        assert_eq!(duration("expire_timeout"), controller.expire_timeout);
        assert_eq!(duration("cleanup_interval"), controller.cleanup_interval);
        let optional = |id| parse_optional_duration(&documented_default(id)).expect("valid");
        assert_eq!(optional("max_lifetime").0, controller.max_lifetime);
        assert_eq!(optional("retention").0, controller.retention);
        let touch = parse_duration_or_zero(&documented_default("touch_interval"));
        assert_eq!(touch, Ok(controller.touch_interval));
        assert_eq!(documented_default("max_sessions_per_user"), "0");
        assert_eq!(controller.user_limit, None);
        assert_eq!(
            duration("request_timeout"),
            HttpOptions::default().request_timeout
        );
        let payload = parse_payload_size(&documented_default("max_payload"));
        assert_eq!(payload, Ok(controller.max_payload));
        let max = |id| parse_max_connections(&documented_default(id));
        assert_eq!(
            max("max_websockets"),
            Ok(HttpOptions::default().max_websockets)
        );
        assert_eq!(max("event_buffer"), Ok(crate::events::DEFAULT_CAPACITY));
        let connections = ConnectionLimits::default();
        assert_eq!(duration("header_timeout"), connections.header_timeout);
        assert_eq!(duration("idle_timeout"), connections.idle_timeout);
        let max_connections = parse_max_connections(&documented_default("max_connections"));
        assert_eq!(max_connections, Ok(connections.max_connections));
        assert_eq!(documented_default("listen"), "127.0.0.1:8080");
        assert_eq!(documented_default("store"), "memory");
        assert_eq!(documented_default("log_format"), "text");
    }

    #[test]
    fn the_test_config_is_the_defaults_on_a_free_local_port() {
        let config = Config::for_tests();
        assert_eq!(config.listen, "127.0.0.1:0".parse().expect("address"));
        assert_eq!(config.controller_options(), ControllerOptions::default());
        assert_eq!(
            config.request_timeout,
            HttpOptions::default().request_timeout
        );
        assert!(config.allow_origins.is_empty());
        assert_eq!(config.connection_limits(), ConnectionLimits::default());
        assert_eq!(config.store.expose(), "memory");
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn the_log_format_is_text_or_json_and_nothing_else() {
        let json = Cli::parse_from(["sessions", "--log-format", "json"]);
        assert_eq!(json.serve.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["sessions", "--log-format", "yaml"]).is_err());
    }

    #[test]
    fn serve_flags_work_with_and_without_the_subcommand() {
        let cli = Cli::parse_from(["sessions", "serve", "--expire-timeout", "1h"]);
        let Some(Command::Serve(config)) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(config.expire_timeout, Duration::from_secs(3600));
        let cli = Cli::parse_from(["sessions", "--cleanup-interval", "1m"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.cleanup_interval, Duration::from_secs(60));
    }
}
