//! A command's session between its steps, in `kv` under `adhoc/<id>`: the
//! node and the JID that started it (no one else may go on with it), the
//! stage, what the plugin kept, and the stages before for `prev`. Sessions
//! abandoned for longer than [`EXPIRY_MS`] are swept when a new one starts.

use waxwing_xml::{Element, StanzaError, StanzaErrorCondition as Condition};

use super::NS;
use crate::host::kv;
use crate::json::Json;

const PREFIX: &str = "adhoc/";
/// How long a session waits for its next step.
pub const EXPIRY_MS: u64 = 10 * 60 * 1000;

pub(super) struct Session {
    pub id: String,
    node: String,
    from: String,
    pub stage: u32,
    pub data: Json,
    /// The (stage, data) each shown form was produced from, oldest first:
    /// `prev` runs the one before the last again.
    history: Vec<(u32, Json)>,
    stored: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn num(n: u64) -> Json {
    Json::Number(n.to_string())
}

fn gone(condition: Condition, app: &str, text: &str) -> StanzaError {
    StanzaError::new(condition).with_text(text.to_string()).with_app_condition(Element::new(app, NS))
}

impl Session {
    pub fn start(node: &str, from: &str) -> Session {
        sweep();
        Session {
            id: hex(&crate::random(12)),
            node: node.to_string(),
            from: from.to_string(),
            stage: 0,
            data: Json::Null,
            history: Vec::new(),
            stored: false,
        }
    }

    /// The session `id`, if it is this sender's, for this node, and alive
    /// (§4.6: `bad-sessionid`, `session-expired`).
    pub fn load(id: &str, node: &str, from: &str) -> Result<Session, StanzaError> {
        let raw = kv::get(format!("{PREFIX}{id}"))?;
        let Some(json) = raw.and_then(|r| Json::parse(std::str::from_utf8(&r).ok()?).ok()) else {
            return Err(gone(Condition::NotAllowed, "session-expired", "this command session has ended"));
        };
        if json.get("node").as_str() != Some(node) || json.get("from").as_str() != Some(from) {
            return Err(gone(
                Condition::BadRequest,
                "bad-sessionid",
                "this session is not yours, or not this command's",
            ));
        }
        let at = json.get("at").as_i64().unwrap_or_default() as u64;
        if at.saturating_add(EXPIRY_MS) < crate::now_ms() {
            kv::delete(format!("{PREFIX}{id}"))?;
            return Err(gone(Condition::NotAllowed, "session-expired", "this command session has expired"));
        }
        let history = json
            .get("history")
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|h| (h.get("stage").as_i64().unwrap_or_default() as u32, h.get("data").clone()))
            .collect();
        Ok(Session {
            id: id.to_string(),
            node: node.to_string(),
            from: from.to_string(),
            stage: json.get("stage").as_i64().unwrap_or_default() as u32,
            data: json.get("data").clone(),
            history,
            stored: true,
        })
    }

    pub fn can_go_back(&self) -> bool {
        self.history.len() > 1
    }

    /// What produced the form before the current one, for `prev` (the
    /// current one's inputs when there is none before it).
    pub fn back(&self) -> (u32, Json) {
        let n = self.history.len();
        let at = if n >= 2 { n - 2 } else { n.saturating_sub(1) };
        self.history.get(at).cloned().unwrap_or_else(|| (self.stage, self.data.clone()))
    }

    /// Records that the step run from `input` now shows the form of
    /// `stage`, with `data` kept for it.
    pub fn advance(&mut self, went_back: bool, input: (u32, Json), stage: u32, data: Json) -> Result<(), StanzaError> {
        if went_back {
            if self.history.len() > 1 {
                self.history.pop();
            }
        } else {
            self.history.push(input);
        }
        self.stage = stage;
        self.data = data;
        let history = self
            .history
            .iter()
            .map(|(s, d)| Json::Object(vec![("stage".into(), num(u64::from(*s))), ("data".into(), d.clone())]))
            .collect();
        let json = Json::Object(vec![
            ("node".into(), Json::String(self.node.clone())),
            ("from".into(), Json::String(self.from.clone())),
            ("stage".into(), num(u64::from(stage))),
            ("data".into(), self.data.clone()),
            ("history".into(), Json::Array(history)),
            ("at".into(), num(crate::now_ms())),
        ]);
        kv::put(format!("{PREFIX}{}", self.id), json.to_string())?;
        self.stored = true;
        Ok(())
    }

    pub fn end(&mut self) -> Result<(), StanzaError> {
        if self.stored {
            kv::delete(format!("{PREFIX}{}", self.id))?;
            self.stored = false;
        }
        Ok(())
    }
}

/// Forgets sessions nobody went on with.
fn sweep() {
    let now = crate::now_ms();
    let Ok(entries) = kv::scan(PREFIX, "", 200) else { return };
    for (key, value) in entries {
        let at = std::str::from_utf8(&value).ok().and_then(|v| Json::parse(v).ok()).and_then(|j| j.get("at").as_i64());
        if at.is_none_or(|at| (at as u64).saturating_add(EXPIRY_MS) < now) {
            let _ = kv::delete(key);
        }
    }
}
