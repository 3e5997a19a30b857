//! Server configuration: flags, then environment, then an optional TOML
//! file, then built-in defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use rapport_engine::{Duration, Engine, EngineConfig};
use rapport_store::FsyncPolicy;
use serde::Deserialize;

use crate::subscribe::{SubscriptionLimits, SubscriptionSettings, Target, TargetSpec, Targets};

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
    /// Directory of scorer plugins, loaded at start; only files inside it
    /// can be loaded [default: none, no plugins].
    #[arg(long, env = "RAPPORT_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Failing plugin calls in a row after which a plugin is disabled
    /// [default: 100].
    #[arg(long, env = "RAPPORT_PLUGIN_FAILURE_THRESHOLD")]
    pub plugin_failure_threshold: Option<u32>,
    /// A metric's target, `csat>=95` or `detractor_share<=10`; repeatable.
    /// Replaces the file's targets when given.
    #[arg(long = "target", value_name = "METRIC>=VALUE")]
    pub targets: Vec<String>,
    /// Most open subscriptions per tenant [default: 50000].
    #[arg(long, env = "RAPPORT_MAX_SUBSCRIPTIONS_PER_TENANT")]
    pub max_subscriptions_per_tenant: Option<usize>,
    /// Most open subscriptions per client connection [default: 10000].
    #[arg(long, env = "RAPPORT_MAX_SUBSCRIPTIONS_PER_CONNECTION")]
    pub max_subscriptions_per_connection: Option<usize>,
    /// Directory of the write-ahead log and snapshots [default: rapport-data].
    #[arg(long, env = "RAPPORT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk (wins over a data directory): a restart starts
    /// empty.
    #[arg(long, env = "RAPPORT_IN_MEMORY")]
    pub in_memory: bool,
    /// When the log syncs: always, interval:<duration> or never [default: always].
    #[arg(long, env = "RAPPORT_FSYNC", value_parser = parse_fsync)]
    pub fsync: Option<FsyncPolicy>,
    /// How long an event id is remembered to drop retries; 0 turns
    /// deduplication off (retries count again) [default: 24h].
    #[arg(long, env = "RAPPORT_DEDUP_WINDOW")]
    pub dedup_window: Option<humantime::Duration>,
    /// How often the state is snapshotted and the log truncated [default: 5m].
    #[arg(long, env = "RAPPORT_SNAPSHOT_INTERVAL")]
    pub snapshot_interval: Option<humantime::Duration>,
    /// Start even if the log is corrupt in the middle, dropping the records
    /// from the damage on (the log says how much).
    #[arg(long, env = "RAPPORT_REPAIR_LOG")]
    pub repair_log: bool,
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
    plugin_dir: Option<PathBuf>,
    plugin_failure_threshold: Option<u32>,
    #[serde(default)]
    targets: std::collections::HashMap<String, TargetSpec>,
    max_subscriptions_per_tenant: Option<usize>,
    max_subscriptions_per_connection: Option<usize>,
    data_dir: Option<PathBuf>,
    in_memory: Option<bool>,
    fsync: Option<String>,
    #[serde(default, with = "humantime_serde_opt")]
    dedup_window: Option<StdDuration>,
    #[serde(default, with = "humantime_serde_opt")]
    snapshot_interval: Option<StdDuration>,
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
    /// Scorer plugins.
    pub plugins: PluginSettings,
    /// Targets and limits of live subscriptions.
    pub subscriptions: SubscriptionSettings,
    /// Where and how accepted batches are made durable.
    pub durability: DurabilitySettings,
}

/// Durability settings: the write-ahead log and snapshots.
#[derive(Clone, Debug)]
pub struct DurabilitySettings {
    /// Directory of the log and snapshots; `None` keeps everything in memory
    /// only (the library default, used by the demo and in-process tests).
    pub data_dir: Option<PathBuf>,
    /// When the log syncs its writes, which is what an ack promises.
    pub fsync: FsyncPolicy,
    /// How often the engine state is snapshotted and the log truncated
    /// behind the previous snapshot.
    pub snapshot_interval: StdDuration,
    /// Truncate a log that is corrupt in the middle instead of refusing to
    /// start.
    pub repair_log: bool,
}

/// Where `rapportd` keeps its data unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "rapport-data";

impl Default for DurabilitySettings {
    fn default() -> Self {
        DurabilitySettings {
            data_dir: None,
            fsync: FsyncPolicy::Always,
            snapshot_interval: StdDuration::from_secs(300),
            repair_log: false,
        }
    }
}

impl Default for Settings {
    /// In-process defaults: in memory (no data directory). `rapportd` goes
    /// through [`Settings::load`], which defaults to [`DEFAULT_DATA_DIR`].
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            engine: EngineConfig::default(),
            max_batch_events: 10_000,
            shutdown_grace: StdDuration::from_secs(10),
            log_format: LogFormat::Text,
            plugins: PluginSettings::default(),
            subscriptions: SubscriptionSettings::default(),
            durability: DurabilitySettings::default(),
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
        if let Some(d) = pick(args.dedup_window, file.dedup_window) {
            // Zero is allowed: it turns deduplication off.
            engine.dedup_window =
                if d.is_zero() { Duration(0) } else { to_engine_duration(d, "dedup_window")? };
            if engine.dedup_window > Engine::MAX_DEDUP_WINDOW {
                bail!("dedup_window must be at most {}h", Engine::MAX_DEDUP_WINDOW.millis() / 3_600_000);
            }
        }
        if engine.fine_retention > engine.retention {
            bail!("fine_retention must not exceed retention");
        }
        let max_batch_events =
            args.max_batch_events.or(file.max_batch_events).unwrap_or(defaults.max_batch_events);
        if max_batch_events == 0 {
            bail!("max_batch_events must be at least 1");
        }
        let durability = durability(&args, &file)?;
        Ok(Settings {
            durability,
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            engine,
            max_batch_events,
            shutdown_grace: pick(args.shutdown_grace, file.shutdown_grace).unwrap_or(defaults.shutdown_grace),
            log_format: args.log_format.or(file.log_format).unwrap_or(defaults.log_format),
            plugins: plugin_settings(&args, &file)?,
            subscriptions: subscription_settings(&args, &file)?,
        })
    }
}

fn durability(args: &ServerArgs, file: &FileSettings) -> anyhow::Result<DurabilitySettings> {
    let defaults = DurabilitySettings::default();
    // `--in-memory` wins over any data directory; the file's `in_memory`
    // yields to a `--data-dir` flag.
    let in_memory = args.in_memory || (args.data_dir.is_none() && file.in_memory.unwrap_or(false));
    let data_dir = match (in_memory, &args.data_dir, &file.data_dir) {
        (true, _, _) => None,
        (false, Some(dir), _) | (false, None, Some(dir)) => Some(dir.clone()),
        (false, None, None) => Some(PathBuf::from(DEFAULT_DATA_DIR)),
    };
    let fsync = match (args.fsync, &file.fsync) {
        (Some(policy), _) => policy,
        (None, Some(text)) => {
            parse_fsync(text).map_err(anyhow::Error::msg).context("fsync in the config file")?
        }
        (None, None) => defaults.fsync,
    };
    let snapshot_interval = args
        .snapshot_interval
        .map(Into::into)
        .or(file.snapshot_interval)
        .unwrap_or(defaults.snapshot_interval);
    if snapshot_interval.is_zero() {
        bail!("snapshot_interval must be positive");
    }
    Ok(DurabilitySettings { data_dir, fsync, snapshot_interval, repair_log: args.repair_log })
}

/// Parses `always`, `never` or `interval:<duration>` (humantime, e.g.
/// `interval:10ms`).
pub fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    match text.trim() {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        other => match other.strip_prefix("interval:") {
            Some(d) => match humantime::parse_duration(d.trim()) {
                Ok(d) if !d.is_zero() => Ok(FsyncPolicy::Interval(d)),
                Ok(_) => Err("the fsync interval must be positive".to_owned()),
                Err(e) => Err(format!("fsync interval {d:?}: {e}")),
            },
            None => Err(format!("fsync must be always, interval:<duration> or never, not {other:?}")),
        },
    }
}

fn subscription_settings(args: &ServerArgs, file: &FileSettings) -> anyhow::Result<SubscriptionSettings> {
    let targets = if args.targets.is_empty() {
        file.targets
            .iter()
            .map(|(metric, spec)| {
                Ok((metric.clone(), spec.target().map_err(|e| anyhow::anyhow!("target {metric}: {e}"))?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        args.targets
            .iter()
            .map(|t| Target::parse_flag(t).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let defaults = SubscriptionLimits::default();
    let limits = SubscriptionLimits {
        per_tenant: args
            .max_subscriptions_per_tenant
            .or(file.max_subscriptions_per_tenant)
            .unwrap_or(defaults.per_tenant),
        per_connection: args
            .max_subscriptions_per_connection
            .or(file.max_subscriptions_per_connection)
            .unwrap_or(defaults.per_connection),
    };
    Ok(SubscriptionSettings { targets: Targets::new(targets), limits })
}

/// Scorer plugins: where they come from and when a failing one is disabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSettings {
    /// The plugin directory: its plugins load at start, and `LoadPlugin`
    /// takes files from it only. `None`: no plugins.
    pub dir: Option<PathBuf>,
    /// Failing calls in a row after which a plugin is disabled.
    pub failure_threshold: u32,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings { dir: None, failure_threshold: 100 }
    }
}

fn plugin_settings(args: &ServerArgs, file: &FileSettings) -> anyhow::Result<PluginSettings> {
    let failure_threshold = args
        .plugin_failure_threshold
        .or(file.plugin_failure_threshold)
        .unwrap_or(PluginSettings::default().failure_threshold);
    if failure_threshold == 0 {
        bail!("plugin_failure_threshold must be at least 1");
    }
    Ok(PluginSettings { dir: args.plugin_dir.clone().or_else(|| file.plugin_dir.clone()), failure_threshold })
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
    fn durability_defaults_to_a_data_dir_and_in_memory_wins() -> anyhow::Result<()> {
        let settings = Settings::load(ServerArgs::default())?;
        assert_eq!(settings.durability.data_dir, Some(PathBuf::from(DEFAULT_DATA_DIR)));
        assert_eq!(settings.durability.fsync, FsyncPolicy::Always);
        assert_eq!(settings.engine.dedup_window, Duration::hours(24));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "data_dir = \"/x\"\nfsync = \"interval:10ms\"\ndedup_window = \"2h\"\n")?;
        let settings = Settings::load(ServerArgs { config: Some(path.clone()), ..ServerArgs::default() })?;
        assert_eq!(settings.durability.data_dir, Some(PathBuf::from("/x")));
        assert_eq!(settings.durability.fsync, FsyncPolicy::Interval(StdDuration::from_millis(10)));
        assert_eq!(settings.engine.dedup_window, Duration::hours(2));
        let args = ServerArgs { config: Some(path), in_memory: true, ..ServerArgs::default() };
        assert_eq!(Settings::load(args)?.durability.data_dir, None);
        assert!(Settings::default().durability.data_dir.is_none(), "library default stays in memory");
        Ok(())
    }

    #[test]
    fn a_zero_dedup_window_turns_deduplication_off() -> anyhow::Result<()> {
        let zero: humantime::Duration = "0s".parse()?;
        let settings = Settings::load(ServerArgs { dedup_window: Some(zero), ..ServerArgs::default() })?;
        assert_eq!(settings.engine.dedup_window, Duration(0));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "dedup_window = \"0\"\n")?;
        let settings = Settings::load(ServerArgs { config: Some(path), ..ServerArgs::default() })?;
        assert_eq!(settings.engine.dedup_window, Duration(0));
        let too_long: humantime::Duration = "4years".parse()?;
        assert!(
            Settings::load(ServerArgs { dedup_window: Some(too_long), ..ServerArgs::default() }).is_err()
        );
        Ok(())
    }

    #[test]
    fn fsync_policies_parse() {
        assert_eq!(parse_fsync("never"), Ok(FsyncPolicy::Never));
        assert_eq!(parse_fsync("interval:1s"), Ok(FsyncPolicy::Interval(StdDuration::from_secs(1))));
        assert!(parse_fsync("sometimes").is_err());
        assert!(parse_fsync("interval:0s").is_err());
    }

    #[test]
    fn plugin_dir_defaults_to_none_and_flags_win_over_the_file() -> anyhow::Result<()> {
        assert_eq!(Settings::load(ServerArgs::default())?.plugins, PluginSettings::default());
        assert_eq!(PluginSettings::default().dir, None);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "plugin_dir = \"/from-file\"\nplugin_failure_threshold = 5\n")?;
        let settings = Settings::load(ServerArgs { config: Some(path.clone()), ..ServerArgs::default() })?;
        assert_eq!(settings.plugins.dir, Some(PathBuf::from("/from-file")));
        assert_eq!(settings.plugins.failure_threshold, 5);
        let args =
            ServerArgs { config: Some(path), plugin_dir: Some("/flag".into()), ..ServerArgs::default() };
        assert_eq!(Settings::load(args)?.plugins.dir, Some(PathBuf::from("/flag")));
        let zero = ServerArgs { plugin_failure_threshold: Some(0), ..ServerArgs::default() };
        assert!(Settings::load(zero).is_err());
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
