//! What the admin channel shows about each plugin.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    Serving,
    /// Failed `max_consecutive_failures` times in a row; a reload brings it back.
    Disabled,
}

impl PluginState {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Serving => "serving",
            PluginState::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginStatus {
    pub name: String,
    pub vhost: String,
    pub version: String,
    /// "builtin" or the path the component was read from.
    pub source: String,
    pub state: PluginState,
    /// Why it is disabled.
    pub reason: Option<String>,
    pub calls: u64,
    /// Failed calls plus errors the plugin reported from events.
    pub failures: u64,
    pub last_error: Option<String>,
}

impl std::fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} on {} ({}): {}, {} calls, {} failures",
            self.name,
            self.version,
            self.vhost,
            self.source,
            self.state.as_str(),
            self.calls,
            self.failures
        )?;
        if let Some(r) = &self.reason {
            write!(f, "; disabled: {r}")?;
        }
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_for_the_admin_channel() {
        let s = PluginStatus {
            name: "ping".into(),
            vhost: "localhost".into(),
            version: "0.1.0".into(),
            source: "builtin".into(),
            state: PluginState::Disabled,
            reason: Some("20 consecutive failures".into()),
            calls: 40,
            failures: 20,
            last_error: None,
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["state"], "disabled");
        assert_eq!(json["calls"], 40);
        assert!(s.to_string().contains("disabled: 20 consecutive failures"));
    }
}
