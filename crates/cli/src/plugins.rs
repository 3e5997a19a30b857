//! `rapport plugins list|load|reload|unload`: the server's `PluginService`.

use rapport::proto;
use rapport::proto::plugin_service_client::PluginServiceClient;

use super::connect::{ServerArgs, connect};
use super::output::Style;

/// Flags of `rapport plugins`.
#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    /// Print the server's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: PluginAction,
}

/// What `rapport plugins` does.
#[derive(Debug, clap::Subcommand)]
pub enum PluginAction {
    /// The loaded plugins: version, state, metrics and error counts.
    List,
    /// Load a plugin file from the server's plugin directory.
    Load {
        /// Path of the shared library, relative to the plugin directory (or
        /// absolute inside it), as the server sees it.
        path: String,
    },
    /// Load a plugin's file again (a new build) and swap it in.
    Reload {
        /// The plugin's name, as `rapport plugins list` shows it.
        name: String,
    },
    /// Remove a plugin; its counts stay stored until retention evicts them.
    Unload {
        /// The plugin's name, as `rapport plugins list` shows it.
        name: String,
    },
}

/// Runs `rapport plugins`.
pub async fn run(server: &ServerArgs, args: PluginsArgs, style: &Style) -> anyhow::Result<()> {
    let mut client = PluginServiceClient::new(connect(server).await?);
    let json = args.json;
    match args.action {
        PluginAction::List => {
            let answer =
                client.list_plugins(proto::ListPluginsRequest {}).await.map_err(super::wire::status_error)?;
            let answer = answer.into_inner();
            if json {
                return print_json(&answer);
            }
            outln!("{}", list_text(&answer, style))?;
        }
        PluginAction::Load { path } => {
            let answer = client
                .load_plugin(proto::LoadPluginRequest { path })
                .await
                .map_err(super::wire::status_error)?;
            let answer = answer.into_inner();
            if json {
                return print_json(&answer);
            }
            let plugin = answer.plugin.unwrap_or_default();
            outln!(
                "loaded {} {} from {} (sha256 {}); metrics: {}",
                plugin.name,
                plugin.version,
                plugin.path,
                short_sha(&plugin),
                metric_names(&plugin)
            )?;
        }
        PluginAction::Reload { name } => {
            let answer = client
                .reload_plugin(proto::ReloadPluginRequest { name })
                .await
                .map_err(super::wire::status_error)?;
            let answer = answer.into_inner();
            if json {
                return print_json(&answer);
            }
            let plugin = answer.plugin.unwrap_or_default();
            outln!(
                "reloaded {}: {} -> {} (sha256 {}); metrics: {}",
                plugin.name,
                answer.previous_version,
                plugin.version,
                short_sha(&plugin),
                metric_names(&plugin)
            )?;
        }
        PluginAction::Unload { name } => {
            let answer = client
                .unload_plugin(proto::UnloadPluginRequest { name })
                .await
                .map_err(super::wire::status_error)?;
            let answer = answer.into_inner();
            if json {
                return print_json(&answer);
            }
            let plugin = answer.plugin.unwrap_or_default();
            outln!(
                "unloaded {} {}; its metrics ({}) are gone until it is loaded again, their counts kept",
                plugin.name,
                plugin.version,
                metric_names(&plugin)
            )?;
        }
    }
    Ok(())
}

fn print_json(answer: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(answer)?)?;
    Ok(())
}

/// The first 12 hex digits of the file's SHA-256: enough to tell builds
/// apart at a glance (`--json` has all of it).
fn short_sha(plugin: &proto::PluginInfo) -> String {
    plugin.sha256.chars().take(12).collect()
}

fn metric_names(plugin: &proto::PluginInfo) -> String {
    let names: Vec<&str> = plugin.metrics.iter().map(|m| m.name.as_str()).collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

/// The plugin list: one row per plugin, then the plugin directory.
fn list_text(answer: &proto::ListPluginsResponse, style: &Style) -> String {
    let dir = if answer.plugin_dir.is_empty() {
        "no plugin directory configured (rapportd --plugin-dir)".to_owned()
    } else {
        format!("plugin directory: {}", answer.plugin_dir)
    };
    if answer.plugins.is_empty() {
        return format!("no plugins loaded; {dir}");
    }
    let mut table = style.table(
        ["plugin", "version", "sha256", "state", "metrics", "errors", "last error"]
            .map(String::from)
            .to_vec(),
    );
    for plugin in &answer.plugins {
        let state = match proto::PluginState::try_from(plugin.state) {
            Ok(proto::PluginState::Loaded) => "loaded",
            Ok(proto::PluginState::Disabled) => "disabled",
            _ => "unknown",
        };
        table.add_row(vec![
            plugin.name.clone(),
            plugin.version.clone(),
            short_sha(plugin),
            state.to_owned(),
            metric_names(plugin),
            format!(
                "observe {}, evaluate {}, panics {}",
                plugin.observe_errors, plugin.evaluate_errors, plugin.panics
            ),
            plugin.last_error.clone().unwrap_or_default(),
        ]);
    }
    format!("{table}\n{dir}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_state_metrics_errors_and_the_directory() {
        let metric = |name: &str| proto::MetricDescriptor { name: name.into(), ..Default::default() };
        let answer = proto::ListPluginsResponse {
            plugins: vec![proto::PluginInfo {
                name: "workforce".into(),
                version: "0.2.0".into(),
                path: "/srv/plugins/librapport_workforce.so".into(),
                state: proto::PluginState::Disabled.into(),
                metrics: vec![metric("aht"), metric("fcr")],
                observe_errors: 101,
                evaluate_errors: 0,
                panics: 1,
                last_error: Some("handle time is negative".into()),
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            }],
            plugin_dir: "/srv/plugins".into(),
        };
        let text = list_text(&answer, &Style::new(true));
        let row = text.lines().find(|l| l.contains("workforce")).unwrap_or_default();
        for cell in [
            "0.2.0",
            "disabled",
            "aht, fcr",
            "observe 101, evaluate 0, panics 1",
            "handle time is negative",
            "9f86d081884c ",
        ] {
            assert!(row.contains(cell), "{cell:?} missing: {text}");
        }
        assert!(text.ends_with("plugin directory: /srv/plugins"), "{text}");
        let narrow = list_text(&answer, &Style::new(false));
        assert!(narrow.lines().all(|l| l.chars().count() <= 100), "{narrow}");
        let empty = proto::ListPluginsResponse::default();
        assert_eq!(
            list_text(&empty, &Style::new(false)),
            "no plugins loaded; no plugin directory configured (rapportd --plugin-dir)"
        );
    }
}
