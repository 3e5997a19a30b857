//! Server configuration: flags, then environment, then an optional TOML
//! file, then built-in defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use rapport_engine::{Duration, EngineConfig};
use serde::Deserialize;

/// Command-line flags of `rapportd`; each also reads `RAPPORT_*` from the
/// environment.
#[derive(Debug, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML file with any of the settings below (flags and env win over it).
    #[arg(long, env = "RAPPORT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "RAPPORT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// How long data is kept; older events are rejected [default: 400d].
    #[arg(long, env = "RAPPORT_RETENTION")]
    pub retention: Option<humantime::Duration>,
    /// How long one-minute buckets are kept [default: 6h].
    #[arg(long, env = "RAPPORT_FINE_RETENTION")]
    pub fine_retention: Option<humantime::Duration>,
    /// How far ahead of the server clock an event may be [default: 5m].
    #[arg(long, env = "RAPPORT_MAX_FUTURE_SKEW")]
    pub max_future_skew: Option<humantime::Duration>,
    /// Most events in one batch [default: 10000].
    #[arg(long, env = "RAPPORT_MAX_BATCH_EVENTS")]
    pub max_batch_events: Option<usize>,
    /// How long shutdown waits for in-flight calls [default: 10s].
    #[arg(long, env = "RAPPORT_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<humantime::Duration>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "RAPPORT_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    #[serde(default, with = "humantime_serde_opt")]
    retention: Option<StdDuration>,
    #[serde(default, with = "humantime_serde_opt")]
    fine_retention: Option<StdDuration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_future_skew: Option<StdDuration>,
    max_batch_events: Option<usize>,
    #[serde(default, with = "humantime_serde_opt")]
    shutdown_grace: Option<StdDuration>,
    log_format: Option<LogFormat>,
}

/// Resolved settings of a server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Engine configuration.
    pub engine: EngineConfig,
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// How long shutdown waits for in-flight calls.
    pub shutdown_grace: StdDuration,
    /// Log format.
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            engine: EngineConfig::default(),
            max_batch_events: 10_000,
            shutdown_grace: StdDuration::from_secs(10),
            log_format: LogFormat::Text,
        }
    }
}

impl Settings {
    /// Resolves flags and environment over the file named by `--config`
    /// over the defaults.
    pub fn load(args: ServerArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let defaults = Settings::default();
        let pick =
            |flag: Option<humantime::Duration>, file: Option<StdDuration>| flag.map(Into::into).or(file);
        let mut engine = defaults.engine;
        if let Some(d) = pick(args.retention, file.retention) {
            engine.retention = to_engine_duration(d, "retention")?;
        }
        if let Some(d) = pick(args.fine_retention, file.fine_retention) {
            engine.fine_retention = to_engine_duration(d, "fine_retention")?;
        }
        if let Some(d) = pick(args.max_future_skew, file.max_future_skew) {
            engine.limits.max_future_skew = to_engine_duration(d, "max_future_skew")?;
        }
        if engine.fine_retention > engine.retention {
            bail!("fine_retention must not exceed retention");
        }
        let max_batch_events =
            args.max_batch_events.or(file.max_batch_events).unwrap_or(defaults.max_batch_events);
        if max_batch_events == 0 {
            bail!("max_batch_events must be at least 1");
        }
        Ok(Settings {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            engine,
            max_batch_events,
            shutdown_grace: pick(args.shutdown_grace, file.shutdown_grace).unwrap_or(defaults.shutdown_grace),
            log_format: args.log_format.or(file.log_format).unwrap_or(defaults.log_format),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

fn to_engine_duration(d: StdDuration, name: &str) -> anyhow::Result<Duration> {
    let millis = i64::try_from(d.as_millis()).with_context(|| format!("{name} is too long"))?;
    if millis <= 0 {
        bail!("{name} must be positive");
    }
    Ok(Duration(millis))
}

/// Optional durations written the humantime way ("30d", "6h") in TOML.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:6000\"\nretention = \"30d\"\nmax_batch_events = 50\n")?;
        let args = ServerArgs { config: Some(path), max_batch_events: Some(7), ..ServerArgs::default() };
        let settings = Settings::load(args)?;
        assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 6000)));
        assert_eq!(settings.engine.retention, Duration::days(30));
        assert_eq!(settings.max_batch_events, 7);
        assert_eq!(settings.engine.fine_retention, Duration::hours(6));
        Ok(())
    }

    #[test]
    fn unknown_file_keys_are_an_error() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "retension = \"30d\"\n")?;
        let error = Settings::load(ServerArgs { config: Some(path), ..ServerArgs::default() });
        assert!(
            format!("{:#}", error.err().map(|e| format!("{e:#}")).unwrap_or_default()).contains("retension")
        );
        Ok(())
    }
}
