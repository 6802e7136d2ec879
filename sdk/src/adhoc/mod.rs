//! Ad-hoc commands (XEP-0050): declare them in `init`, answer them in
//! `on_iq` with [`handle`], which carries the protocol: sessions across
//! stages, the actions (execute, next, prev, complete, cancel), notes, and
//! the `<command/>` element each answer is. A plugin writes only what each
//! stage shows and what submitting it does.
//!
//! The kernel routes a command's iqs to the plugin that declared its node,
//! and only from the command's [`Audience`]; the host's disco lists each
//! asker the commands it may run ([`visible_to`]).
//!
//! ```ignore
//! fn init(_: &Json) -> Result<Ready, String> {
//!     adhoc::declare(&[Command::new(PING_ALL, "Ping everyone", Audience::Admins)]).map_err(|e| e.to_string())?;
//!     Ok(Ready::new())
//! }
//!
//! fn on_iq(iq: Iq) -> Handled {
//!     adhoc::handle(&iq, |req| match req.stage {
//!         0 => Ok(Step::form(ask_form(), 1)),
//!         _ => Ok(Step::done("Pinged everyone")),
//!     })
//! }
//! ```

mod session;

use waxwing_xml::{Element, StanzaError, StanzaErrorCondition as Condition};

use crate::bindings::waxwing::plugin::commands as wit;
pub use crate::bindings::waxwing::plugin::commands::Audience;
use crate::bindings::waxwing::plugin::types::DiscoItem;
use crate::error::HostError;
use crate::forms::DataForm;
use crate::host::sys;
use crate::json::Json;
use crate::plugin::Handled;
use crate::stanza::Iq;

/// The namespace of `<command/>`.
pub const NS: &str = "http://jabber.org/protocol/commands";

/// One command a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its node, unique on the host.
    pub node: String,
    /// Its human-readable name.
    pub name: String,
    /// Who may see and run it.
    pub audience: Audience,
}

impl Command {
    /// A command `name`d at `node` for `audience`.
    pub fn new(node: &str, name: &str, audience: Audience) -> Self {
        Command { node: node.to_string(), name: name.to_string(), audience }
    }
}

/// Declares this plugin's commands, replacing any earlier declaration.
/// Call it in `init`: the kernel keeps what the loading `init` declared.
pub fn declare(commands: &[Command]) -> Result<(), HostError> {
    let raw: Vec<wit::Command> = commands
        .iter()
        .map(|c| wit::Command { node: c.node.clone(), name: c.name.clone(), audience: c.audience })
        .collect();
    sys::commands::declare(&raw).map_err(HostError::from)
}

/// The commands of every plugin on this host that `jid` may run.
pub fn visible_to(jid: &str) -> Vec<DiscoItem> {
    sys::commands::visible_to(jid)
}

/// What the client asked for with a `<command/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start, or go on with the stage's default.
    Execute,
    /// The next stage.
    Next,
    /// Back to the stage before.
    Prev,
    /// Finish with what was submitted.
    Complete,
    /// Give up (answered by [`handle`] itself).
    Cancel,
}

impl Action {
    fn parse(s: Option<&str>) -> Option<Action> {
        Some(match s.unwrap_or("execute") {
            "execute" => Action::Execute,
            "next" => Action::Next,
            "prev" => Action::Prev,
            "complete" => Action::Complete,
            "cancel" => Action::Cancel,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Execute => "execute",
            Action::Next => "next",
            Action::Prev => "prev",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
        }
    }
}

/// One step of a command, as the plugin's code sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The command's node.
    pub node: String,
    /// The sender's full JID.
    pub from: String,
    /// What the client asked for (never `Cancel`: [`handle`] answers that).
    pub action: Action,
    /// The stage whose form is being submitted: 0 when the command starts;
    /// after [`Step::form`], the stage it named. On `Prev`, the stage to show again.
    pub stage: u32,
    /// What the plugin kept with [`Step::keep`] at earlier stages.
    pub data: Json,
    /// The form the client submitted, if any.
    pub form: Option<DataForm>,
}

/// A note to the user (§4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Information.
    Info(String),
    /// A warning.
    Warn(String),
    /// An error: the step did not do what was asked.
    Error(String),
}

/// What the plugin answers a step with.
#[derive(Debug, Clone)]
pub struct Step {
    form: Option<DataForm>,
    /// `Some`: executing, and the form belongs to this stage.
    next_stage: Option<u32>,
    data: Json,
    notes: Vec<Note>,
    /// Offer `next` as well as `complete` (a stage with more after it).
    more: bool,
    /// Elements the answer carries besides the form (XEP-0133's roster).
    payload: Vec<Element>,
}

impl Step {
    /// Show `form` (type `form`) for the user to fill in; its submission
    /// comes back as `stage`. The user may complete it, or cancel.
    pub fn form(form: DataForm, stage: u32) -> Step {
        Step {
            form: Some(form),
            next_stage: Some(stage),
            data: Json::Null,
            notes: Vec::new(),
            more: false,
            payload: Vec::new(),
        }
    }

    /// Like [`Step::form`], for a stage with more after it: the user may go
    /// `next` (the default) as well as complete.
    pub fn form_with_more(form: DataForm, stage: u32) -> Step {
        Step { more: true, ..Step::form(form, stage) }
    }

    /// The command is done; `text` is its note.
    pub fn done(text: &str) -> Step {
        Step {
            form: None,
            next_stage: None,
            data: Json::Null,
            notes: vec![Note::Info(text.to_string())],
            more: false,
            payload: Vec::new(),
        }
    }

    /// The command is done and shows `form` (type `result`).
    pub fn result(form: DataForm) -> Step {
        Step {
            form: Some(form),
            next_stage: None,
            data: Json::Null,
            notes: Vec::new(),
            more: false,
            payload: Vec::new(),
        }
    }

    /// Keeps `data` for the next step's [`Request::data`].
    pub fn keep(mut self, data: Json) -> Step {
        self.data = data;
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: Note) -> Step {
        self.notes.push(note);
        self
    }

    /// Adds an element after the form.
    pub fn with_payload(mut self, el: Element) -> Step {
        self.payload.push(el);
        self
    }
}

/// Whether `iq` is an ad-hoc command for [`handle`].
pub fn is_command(iq: &Iq) -> bool {
    iq.payload_ns() == NS && iq.payload_name() == "command"
}

/// Answers a `<command/>` iq: loads the session, runs `run` for the step,
/// keeps the session for the next, and builds the reply. `cancel`, an
/// unknown or foreign session and a malformed request are answered here.
pub fn handle(iq: &Iq, run: impl FnOnce(&Request) -> Result<Step, StanzaError>) -> Handled {
    let command = iq.payload()?;
    if !iq.is_set() {
        return Err(StanzaError::new(Condition::BadRequest).with_text("commands are executed with an iq of type set"));
    }
    let node = command.attr("node").unwrap_or_default().to_string();
    let action = Action::parse(command.attr("action")).ok_or_else(malformed_action)?;
    let form = DataForm::find_in(command).transpose()?;
    let sid = command.attr("sessionid").filter(|s| !s.is_empty());
    let mut state = match sid {
        None => session::Session::start(&node, iq.from()),
        Some(id) => session::Session::load(id, &node, iq.from())?,
    };
    if action == Action::Cancel {
        state.end()?;
        return iq.reply_with(element(&node, &state.id, "canceled"));
    }
    let (stage, data) = if action == Action::Prev { state.back() } else { (state.stage, state.data.clone()) };
    let input = (stage, data.clone());
    let request = Request { node: node.clone(), from: iq.from().to_string(), action, stage, data, form };
    let step = match run(&request) {
        Ok(step) => step,
        Err(e) => {
            state.end()?;
            return Err(e);
        }
    };
    let mut reply = match step.next_stage {
        Some(next) => {
            state.advance(action == Action::Prev, input, next, step.data)?;
            let mut el = element(&node, &state.id, "executing");
            let default = if step.more { Action::Next } else { Action::Complete };
            let mut actions = Element::new("actions", NS).with_attr("execute", default.name());
            if state.can_go_back() {
                actions.push_child(Element::new("prev", NS));
            }
            if step.more {
                actions.push_child(Element::new("next", NS));
            }
            actions.push_child(Element::new("complete", NS));
            el.push_child(actions);
            el
        }
        None => {
            state.end()?;
            element(&node, &state.id, "completed")
        }
    };
    for note in &step.notes {
        let (kind, text) = match note {
            Note::Info(t) => ("info", t),
            Note::Warn(t) => ("warn", t),
            Note::Error(t) => ("error", t),
        };
        reply.push_child(Element::new("note", NS).with_attr("type", kind).with_text(text.clone()));
    }
    if let Some(form) = step.form {
        reply.push_child(form.to_element());
    }
    for el in step.payload {
        reply.push_child(el);
    }
    iq.reply_with(reply)
}

fn element(node: &str, sessionid: &str, status: &str) -> Element {
    Element::new("command", NS).with_attr("node", node).with_attr("sessionid", sessionid).with_attr("status", status)
}

/// §4.6: an action the command does not know.
fn malformed_action() -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_app_condition(Element::new("malformed-action", NS))
}

#[cfg(test)]
mod tests;
