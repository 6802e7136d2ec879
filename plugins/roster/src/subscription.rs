//! The presence subscription state machine of RFC 6121 Appendix A, with
//! pre-approval (§3.4). Pure: the host glue loads a contact's state, asks
//! what a subscription stanza does to it, stores the answer and carries out
//! what it says (forward the stanza or not, auto-reply or not).

use waxwing_sdk::StanzaType;

/// One side of a relationship as the user's roster records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The user receives the contact's presence.
    pub to: bool,
    /// The contact receives the user's presence.
    pub from: bool,
    /// The user asked for the contact's presence and has no answer yet.
    pub pending_out: bool,
    /// The contact asked for the user's presence and has no answer yet.
    pub pending_in: bool,
    /// The user approved the contact's request before it came (§3.4).
    pub approved: bool,
}

impl Subscription {
    /// The `subscription` attribute of a roster item.
    pub fn name(&self) -> &'static str {
        match (self.to, self.from) {
            (true, true) => "both",
            (true, false) => "to",
            (false, true) => "from",
            (false, false) => "none",
        }
    }

    /// Nothing left to remember about this contact.
    pub fn is_empty(&self) -> bool {
        *self == Subscription::default()
    }

    /// The flags as stored: space-separated words, in a fixed order.
    pub fn to_flags(self) -> String {
        let words = [
            (self.to, "to"),
            (self.from, "from"),
            (self.pending_out, "out"),
            (self.pending_in, "in"),
            (self.approved, "approved"),
        ];
        words.iter().filter(|(on, _)| *on).map(|(_, w)| *w).collect::<Vec<_>>().join(" ")
    }

    /// Reads [`Subscription::to_flags`] back; an unknown word is a corrupt record.
    pub fn from_flags(flags: &str) -> Result<Subscription, String> {
        let mut s = Subscription::default();
        for word in flags.split_whitespace() {
            match word {
                "to" => s.to = true,
                "from" => s.from = true,
                "out" => s.pending_out = true,
                "in" => s.pending_in = true,
                "approved" => s.approved = true,
                other => return Err(format!("unknown subscription flag {other:?}")),
            }
        }
        Ok(s)
    }
}

/// The four subscription presence types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
}

impl Request {
    pub fn from_type(presence_type: StanzaType) -> Option<Request> {
        Some(match presence_type {
            StanzaType::Subscribe => Request::Subscribe,
            StanzaType::Subscribed => Request::Subscribed,
            StanzaType::Unsubscribe => Request::Unsubscribe,
            StanzaType::Unsubscribed => Request::Unsubscribed,
            _ => return None,
        })
    }

    pub fn as_type(self) -> StanzaType {
        match self {
            Request::Subscribe => StanzaType::Subscribe,
            Request::Subscribed => StanzaType::Subscribed,
            Request::Unsubscribe => StanzaType::Unsubscribe,
            Request::Unsubscribed => StanzaType::Unsubscribed,
        }
    }
}

/// What a subscription stanza does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub state: Subscription,
    /// Outbound: route the stanza to the contact. Inbound: deliver it to the
    /// user's available resources.
    pub forward: bool,
    /// Inbound only: the server answers the contact with this on the user's
    /// behalf (a request the user already granted).
    pub auto_reply: Option<Request>,
}

impl Transition {
    /// The contact started receiving the user's presence.
    pub fn gained_from(&self, before: Subscription) -> bool {
        !before.from && self.state.from
    }

    /// The contact stopped receiving the user's presence.
    pub fn lost_from(&self, before: Subscription) -> bool {
        before.from && !self.state.from
    }
}

/// The user sends `request` to the contact (Appendix A.2, A.4 and §3.4).
pub fn outbound(state: Subscription, request: Request) -> Transition {
    let mut s = state;
    let mut forward = true;
    match request {
        // Asking again while subscribed changes nothing, but is still routed:
        // the contact's server may have lost its side.
        Request::Subscribe => s.pending_out = !s.to,
        Request::Unsubscribe => {
            s.to = false;
            s.pending_out = false;
        }
        Request::Subscribed if s.pending_in => {
            s.from = true;
            s.pending_in = false;
            s.approved = false;
        }
        Request::Subscribed if s.from => {}
        // No request to answer: a pre-approval, kept here and not routed.
        Request::Subscribed => {
            s.approved = true;
            forward = false;
        }
        Request::Unsubscribed => {
            s.from = false;
            s.pending_in = false;
            s.approved = false;
        }
    }
    Transition { state: s, forward, auto_reply: None }
}

/// The contact sends `request` to the user (Appendix A.3, A.5 and §3.4).
pub fn inbound(state: Subscription, request: Request) -> Transition {
    let mut s = state;
    let mut forward = false;
    let mut auto_reply = None;
    match request {
        Request::Subscribe if s.from => auto_reply = Some(Request::Subscribed),
        Request::Subscribe if s.approved => {
            s.from = true;
            s.approved = false;
            auto_reply = Some(Request::Subscribed);
        }
        // A repeated request the user has not answered yet is not shown twice.
        Request::Subscribe if s.pending_in => {}
        Request::Subscribe => {
            s.pending_in = true;
            forward = true;
        }
        Request::Subscribed if s.pending_out => {
            s.to = true;
            s.pending_out = false;
            forward = true;
        }
        Request::Subscribed => {}
        Request::Unsubscribe => {
            forward = s.from || s.pending_in;
            s.from = false;
            s.pending_in = false;
            s.approved = false;
        }
        Request::Unsubscribed => {
            forward = s.to || s.pending_out;
            s.to = false;
            s.pending_out = false;
        }
    }
    Transition { state: s, forward, auto_reply }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state in Appendix A's notation: "None", "None + Pending Out", "Both"...
    fn st(name: &str) -> Subscription {
        let mut s = Subscription::default();
        for part in name.split(" + ") {
            match part {
                "None" => {}
                "To" => s.to = true,
                "From" => s.from = true,
                "Both" => {
                    s.to = true;
                    s.from = true;
                }
                "Pending Out" => s.pending_out = true,
                "Pending In" => s.pending_in = true,
                "Approved" => s.approved = true,
                other => panic!("unknown state part {other}"),
            }
        }
        s
    }

    const ALL_STATES: [&str; 9] = [
        "None",
        "None + Pending Out",
        "None + Pending In",
        "None + Pending Out + Pending In",
        "To",
        "To + Pending In",
        "From",
        "From + Pending Out",
        "Both",
    ];

    #[test]
    fn outbound_subscribe_sets_pending_out_unless_already_subscribed() {
        let table = [
            ("None", "None + Pending Out"),
            ("None + Pending Out", "None + Pending Out"),
            ("None + Pending In", "None + Pending Out + Pending In"),
            ("None + Pending Out + Pending In", "None + Pending Out + Pending In"),
            ("To", "To"),
            ("To + Pending In", "To + Pending In"),
            ("From", "From + Pending Out"),
            ("From + Pending Out", "From + Pending Out"),
            ("Both", "Both"),
        ];
        for (from, to) in table {
            let t = outbound(st(from), Request::Subscribe);
            assert_eq!(t.state, st(to), "{from}");
            assert!(t.forward, "{from}");
        }
    }

    #[test]
    fn outbound_unsubscribe_and_unsubscribed_follow_appendix_a() {
        let unsubscribe = [
            ("None + Pending Out", "None"),
            ("None + Pending Out + Pending In", "None + Pending In"),
            ("To", "None"),
            ("To + Pending In", "None + Pending In"),
            ("From + Pending Out", "From"),
            ("Both", "From"),
            ("From", "From"),
        ];
        for (from, to) in unsubscribe {
            assert_eq!(outbound(st(from), Request::Unsubscribe).state, st(to), "unsubscribe {from}");
        }
        let unsubscribed = [
            ("None + Pending In", "None"),
            ("None + Pending Out + Pending In", "None + Pending Out"),
            ("To + Pending In", "To"),
            ("From", "None"),
            ("From + Pending Out", "None + Pending Out"),
            ("Both", "To"),
            ("None + Approved", "None"),
        ];
        for (from, to) in unsubscribed {
            assert_eq!(outbound(st(from), Request::Unsubscribed).state, st(to), "unsubscribed {from}");
        }
    }

    #[test]
    fn outbound_subscribed_approves_or_preapproves() {
        let t = outbound(st("None + Pending In"), Request::Subscribed);
        assert_eq!((t.state, t.forward), (st("From"), true));
        let t = outbound(st("None + Pending Out + Pending In"), Request::Subscribed);
        assert_eq!(t.state, st("From + Pending Out"));
        let t = outbound(st("To + Pending In"), Request::Subscribed);
        assert_eq!(t.state, st("Both"));
        // No request pending: a pre-approval, not routed.
        for s in ["None", "None + Pending Out", "To"] {
            let t = outbound(st(s), Request::Subscribed);
            assert!(t.state.approved && !t.forward, "{s}");
            assert!(!t.state.from, "{s}");
        }
        // Already granted: nothing changes.
        assert_eq!(outbound(st("Both"), Request::Subscribed).state, st("Both"));
    }

    #[test]
    fn inbound_subscribe_delivers_once_or_auto_replies() {
        let t = inbound(st("None"), Request::Subscribe);
        assert_eq!((t.state, t.forward, t.auto_reply), (st("None + Pending In"), true, None));
        let t = inbound(st("To"), Request::Subscribe);
        assert_eq!(t.state, st("To + Pending In"));
        let t = inbound(st("None + Pending In"), Request::Subscribe);
        assert_eq!((t.state, t.forward), (st("None + Pending In"), false));
        for s in ["From", "From + Pending Out", "Both"] {
            let t = inbound(st(s), Request::Subscribe);
            assert_eq!((t.state, t.forward, t.auto_reply), (st(s), false, Some(Request::Subscribed)), "{s}");
        }
        let t = inbound(st("None + Approved"), Request::Subscribe);
        assert_eq!((t.state, t.forward, t.auto_reply), (st("From"), false, Some(Request::Subscribed)));
        let t = inbound(st("To + Approved"), Request::Subscribe);
        assert_eq!(t.state, st("Both"));
        assert!(t.gained_from(st("To + Approved")));
    }

    #[test]
    fn inbound_subscribed_only_answers_a_pending_request() {
        let t = inbound(st("None + Pending Out"), Request::Subscribed);
        assert_eq!((t.state, t.forward), (st("To"), true));
        let t = inbound(st("None + Pending Out + Pending In"), Request::Subscribed);
        assert_eq!(t.state, st("To + Pending In"));
        let t = inbound(st("From + Pending Out"), Request::Subscribed);
        assert_eq!(t.state, st("Both"));
        for s in ["None", "None + Pending In", "To", "To + Pending In", "From", "Both"] {
            let t = inbound(st(s), Request::Subscribed);
            assert_eq!((t.state, t.forward), (st(s), false), "a duplicate or unsolicited subscribed in {s}");
        }
    }

    #[test]
    fn inbound_cancellations_deliver_only_when_they_change_something() {
        let unsubscribe = [
            ("None + Pending In", "None", true),
            ("None + Pending Out + Pending In", "None + Pending Out", true),
            ("To + Pending In", "To", true),
            ("From", "None", true),
            ("From + Pending Out", "None + Pending Out", true),
            ("Both", "To", true),
            ("None", "None", false),
            ("To", "To", false),
        ];
        for (from, to, fwd) in unsubscribe {
            let t = inbound(st(from), Request::Unsubscribe);
            assert_eq!((t.state, t.forward), (st(to), fwd), "unsubscribe {from}");
        }
        assert!(inbound(st("Both"), Request::Unsubscribe).lost_from(st("Both")));
        let unsubscribed = [
            ("None + Pending Out", "None", true),
            ("None + Pending Out + Pending In", "None + Pending In", true),
            ("To", "None", true),
            ("To + Pending In", "None + Pending In", true),
            ("From + Pending Out", "From", true),
            ("Both", "From", true),
            ("None", "None", false),
            ("From", "From", false),
        ];
        for (from, to, fwd) in unsubscribed {
            let t = inbound(st(from), Request::Unsubscribed);
            assert_eq!((t.state, t.forward), (st(to), fwd), "unsubscribed {from}");
        }
    }

    #[test]
    fn names_and_flags_round_trip() {
        assert_eq!(st("Both").name(), "both");
        assert_eq!(st("From + Pending Out").name(), "from");
        assert_eq!(st("To + Pending In").name(), "to");
        assert_eq!(st("None + Pending In").name(), "none");
        for s in ALL_STATES {
            let s = st(s);
            assert_eq!(Subscription::from_flags(&s.to_flags()), Ok(s));
        }
        assert_eq!(Subscription::from_flags("to approved").map(|s| s.approved), Ok(true));
        assert!(Subscription::from_flags("to sideways").is_err());
        assert!(st("None").is_empty() && !st("None + Pending In").is_empty());
        for t in [StanzaType::Subscribe, StanzaType::Subscribed, StanzaType::Unsubscribe, StanzaType::Unsubscribed] {
            assert_eq!(Request::from_type(t).map(Request::as_type), Some(t));
        }
        assert_eq!(Request::from_type(StanzaType::Probe), None);
    }
}
