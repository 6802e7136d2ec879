//! Client-to-client extensions the server has no business with: a stanza
//! from one full JID to another (and its reply) must arrive exactly as sent,
//! with only `from` stamped (RFC 6120 §8.1.2.1). Chat states (XEP-0085),
//! receipts (XEP-0184), attention (XEP-0224), roster item exchange
//! (XEP-0144), stanza session negotiation (XEP-0155), `/me` (XEP-0245),
//! direct MUC invitations (XEP-0249), Jingle with RTP (XEP-0166, XEP-0167).
//!
//! Every test runs twice: against the default config, and against a server
//! with the IM plugins loaded (roster, offline, carbons, blocking, register,
//! vcard, private, caps): their filters and routes must let all this through
//! untouched. Then what happens to the same stanzas addressed to a resource
//! that is offline (RFC 6121 §8.5.3.2), and to malformed ones.

use std::sync::OnceLock;

use waxwing_tests::frames::parse_stanza;
use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, shared, stanza_error_condition, stanza_error_type};

const PW: &str = "passthrough-pw";

const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const NS_RECEIPTS: &str = "urn:xmpp:receipts";
const NS_ATTENTION: &str = "urn:xmpp:attention:0";
const NS_ROSTERX: &str = "http://jabber.org/protocol/rosterx";
const NS_FEATURE_NEG: &str = "http://jabber.org/protocol/feature-neg";
const NS_DATA: &str = "jabber:x:data";
const NS_CONFERENCE: &str = "jabber:x:conference";
const NS_JINGLE: &str = "urn:xmpp:jingle:1";
const NS_JINGLE_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_JINGLE_ERRORS: &str = "urn:xmpp:jingle:errors:1";
const NS_DELAY: &str = "urn:xmpp:delay";

// ------------------------------------------------------------------ setups

/// The configurations every test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// No `[[vhost]]` at all: the built-in default plugins.
    Default,
    /// The built-in plugins and every IM plugin, listed one by one.
    ImPlugins,
}

/// The IM plugins, embedded in the binary like the built-in ones.
const IM_PLUGINS: &[&str] = &["roster", "offline", "carbons", "blocking", "register", "vcard", "private", "caps"];

const BUILTIN: &[&str] = &["disco", "ping", "time", "version"];

impl Setup {
    /// The extra TOML for the harness.
    fn config(self) -> String {
        match self {
            Setup::Default => String::new(),
            Setup::ImPlugins => {
                let im = IM_PLUGINS
                    .iter()
                    .map(|&name| (name, if name == "register" { "allow_registration = true" } else { "" }));
                let plugins: Vec<(&str, &str)> = BUILTIN.iter().map(|&name| (name, "")).chain(im).collect();
                vhost_with_plugins(&plugins)
            }
        }
    }

    /// The plugins the setup's server runs, as `waxwing plugin list` names them.
    fn loaded(self) -> &'static [String] {
        static DEFAULT: OnceLock<Vec<String>> = OnceLock::new();
        static IM: OnceLock<Vec<String>> = OnceLock::new();
        let slot = match self {
            Setup::Default => &DEFAULT,
            Setup::ImPlugins => &IM,
        };
        slot.get_or_init(|| {
            let s = server(self);
            let out = s.cli(&["plugin", "list"]);
            assert!(out.status.success(), "plugin list: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
        })
    }

    fn has(self, plugin: &str) -> bool {
        self.loaded().iter().any(|p| p == plugin)
    }

    /// Whether a message for an account with no available resource is kept
    /// for later (XEP-0160) rather than refused (RFC 6121 §8.5.2.2.1 allows
    /// both): so once the offline plugin is in the default config.
    fn stores_offline_messages(self) -> bool {
        self.has("offline")
    }
}

/// Every account the tests use, per test tag: `<tag>_alice` and `<tag>_bob`.
const TAGS: &[&str] =
    &["cs", "rc", "at", "rx", "ssn", "me", "inv", "jg", "gone_msg", "gone_iq", "gone_pres", "nobody_on", "bad", "late"];

/// One shared server per setup.
fn server(setup: Setup) -> &'static Server {
    static DEFAULT: OnceLock<Server> = OnceLock::new();
    static IM: OnceLock<Server> = OnceLock::new();
    static USERS: OnceLock<Vec<(String, &'static str)>> = OnceLock::new();
    let users = USERS.get_or_init(|| {
        TAGS.iter()
            .flat_map(|t| [format!("{t}_alice@localhost"), format!("{t}_bob@localhost")])
            .map(|j| (j, PW))
            .collect()
    });
    let users: Vec<(&str, &str)> = users.iter().map(|(j, p)| (j.as_str(), *p)).collect();
    let slot = match setup {
        Setup::Default => &DEFAULT,
        Setup::ImPlugins => &IM,
    };
    shared(slot, &setup.config(), &users)
}

/// Generates, for each scenario `fn NAME(setup)`, a module `NAME` with one
/// test per setup, so a failure names the setup it failed in.
macro_rules! in_every_setup {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn default_config() {
                super::$name(super::Setup::Default).await;
            }

            #[tokio::test]
            async fn im_plugins() {
                super::$name(super::Setup::ImPlugins).await;
            }
        }
    )*};
}

in_every_setup!(
    setup_loads_what_it_says,
    chat_states,
    receipts,
    attention,
    roster_item_exchange,
    stanza_session_negotiation,
    me_command,
    direct_muc_invitation,
    jingle_rtp_session,
    message_to_an_offline_resource_goes_to_the_bare_jid,
    iq_to_an_offline_resource_is_service_unavailable,
    presence_to_an_offline_resource_is_dropped,
    message_when_no_resource_is_online,
    malformed_stanzas_are_refused_and_the_server_keeps_running,
);

// ----------------------------------------------------------------- helpers

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

/// `<tag>_alice/a1` and `<tag>_bob/b1`, both online with available presence.
/// Where the IM plugins run, each is also in the other's roster with a
/// mutual subscription, has carbons on and a block list, so that those
/// plugins' filters see the stanzas in the state a real client puts them in.
async fn pair(setup: Setup, tag: &str) -> (RawClient, RawClient) {
    let s = server(setup);
    let mut alice = login(s, &format!("{tag}_alice"), "a1").await;
    let mut bob = login(s, &format!("{tag}_bob"), "b1").await;
    alice.available(0).await;
    bob.available(0).await;
    for c in [&mut alice, &mut bob] {
        if setup.has("carbons") {
            let r = c.iq("set", None, "<enable xmlns='urn:xmpp:carbons:2'/>").await;
            assert_eq!(r.attr("type"), Some("result"), "enabling carbons: {r}");
        }
        if setup.has("blocking") {
            let r =
                c.iq("set", None, "<block xmlns='urn:xmpp:blocking'><item jid='spammer@junk.example'/></block>").await;
            assert_eq!(r.attr("type"), Some("result"), "blocking someone else: {r}");
        }
    }
    if setup.has("roster") {
        befriend(&mut alice, &mut bob).await;
    }
    (alice, bob)
}

fn bare(c: &RawClient) -> String {
    let full = jid(c);
    full.split('/').next().unwrap_or(&full).to_string()
}

fn is_presence(e: &Element, ty: Option<&str>, from: &str) -> bool {
    e.name == "presence" && e.attr("type") == ty && e.attr("from") == Some(from)
}

/// A mutual presence subscription the way clients make one (RFC 6121 §3):
/// a roster add, subscribe, subscribed both ways; done when each has the
/// other's available presence.
async fn befriend(alice: &mut RawClient, bob: &mut RawClient) {
    let (a, b, a_full, b_full) = (bare(alice), bare(bob), jid(alice), jid(bob));
    let r = alice.iq("set", None, &format!("<query xmlns='jabber:iq:roster'><item jid='{b}'/></query>")).await;
    assert_eq!(r.attr("type"), Some("result"), "roster add: {r}");
    alice.send(&format!("<presence to='{b}' type='subscribe'/>")).await;
    bob.next_where("alice's subscription request", |e| is_presence(e, Some("subscribe"), &a)).await;
    bob.send(&format!("<presence to='{a}' type='subscribed'/>")).await;
    bob.send(&format!("<presence to='{a}' type='subscribe'/>")).await;
    let seen = alice.until("bob's subscription request", |e| is_presence(e, Some("subscribe"), &b)).await;
    alice.send(&format!("<presence to='{b}' type='subscribed'/>")).await;
    if !seen.iter().any(|e| is_presence(e, None, &b_full)) {
        alice.next_where("bob's presence", |e| is_presence(e, None, &b_full)).await;
    }
    bob.next_where("alice's presence", |e| is_presence(e, None, &a_full)).await;
}

fn jid(c: &RawClient) -> String {
    c.jid.clone().expect("bound")
}

/// Drops the whitespace between tags, so payloads can be written indented.
fn compact(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(gt) = rest.find('>') {
        out.push_str(&rest[..=gt]);
        rest = &rest[gt + 1..];
        let trimmed = rest.trim_start();
        if trimmed.starts_with('<') {
            rest = trimmed;
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// Sends `xml` (a stanza without `from`, with an `id`) from `sender` and
/// checks that `receiver` gets exactly that stanza with `from` stamped.
async fn relay(sender: &mut RawClient, receiver: &mut RawClient, xml: &str) -> Element {
    let xml = compact(xml);
    let sent = parse_stanza(&xml).unwrap_or_else(|e| panic!("the test's own stanza: {e}"));
    assert!(sent.attr("from").is_none(), "send stanzas without from: {xml}");
    let id = sent.attr("id").expect("relayed stanzas carry an id").to_string();
    sender.send(&xml).await;
    let got = receiver
        .next_where(&format!("<{} id='{id}'/> relayed", sent.name), |e| {
            e.name == sent.name && e.attr("id") == Some(id.as_str()) && e.attr("type") == sent.attr("type")
        })
        .await;
    let mut want = sent.clone();
    want.set_attr("from", jid(sender));
    assert_eq!(got, want, "the stanza was changed on the way\nsent:     {xml}\nreceived: {got}");
    got
}

/// Everything `c` receives up to the message with id `marker` (which the
/// caller made someone send), the marker excluded.
async fn until_marker(c: &mut RawClient, marker: &str) -> Vec<Element> {
    let mut seen =
        c.until(&format!("the marker {marker}"), |e| e.name == "message" && e.attr("id") == Some(marker)).await;
    seen.pop();
    seen
}

/// Sends a marker message from `from` to `to` and returns what `to`
/// received before it: all that was routed to it in between.
async fn received_before_marker(from: &mut RawClient, to: &mut RawClient, marker: &str) -> Vec<Element> {
    let target = jid(to);
    from.send(&format!("<message to='{target}' type='chat' id='{marker}'><body>marker</body></message>")).await;
    until_marker(to, marker).await
}

/// Pings the server and returns everything received before the answer.
async fn received_before_ping(c: &mut RawClient, id: &str) -> Vec<Element> {
    c.send(&format!("<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    let mut seen = c.until(&format!("the answer to ping {id}"), |e| e.name == "iq" && e.attr("id") == Some(id)).await;
    let answer = seen.pop().expect("until ends with the answer");
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    seen
}

/// The error answering the stanza `kind` with `id`.
async fn error_reply(c: &mut RawClient, kind: &str, id: &str) -> Element {
    c.next_where(&format!("the error answering {kind} {id}"), |e| {
        e.name == kind && e.attr("type") == Some("error") && e.attr("id") == Some(id)
    })
    .await
}

fn assert_error(e: &Element, condition: &str, ty: &str) {
    assert_eq!(stanza_error_condition(e).as_deref(), Some(condition), "{e}");
    assert_eq!(stanza_error_type(e).as_deref(), Some(ty), "{e}");
}

// --------------------------------------------------------------- the setups

async fn setup_loads_what_it_says(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let loaded = setup.loaded();
    for name in BUILTIN {
        assert!(setup.has(name), "{name} is not loaded in {setup:?}: {loaded:?}");
    }
    // The default config gains the IM plugins once they are finished; the
    // other setup must have them whatever the default.
    if setup == Setup::ImPlugins {
        for name in IM_PLUGINS {
            assert!(setup.has(name), "{name} is not loaded in {setup:?}: {loaded:?}");
        }
    }
}

// ---------------------------------------------------------------- XEP-0085

async fn chat_states(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "cs").await;
    let (a, b) = (jid(&alice), jid(&bob));
    // A first message with content and <active/>, as a client starting a chat sends it.
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' type='chat' id='cs-0'>
               <body>Are you coming to the rehearsal tonight?</body>
               <active xmlns='{NS_CHATSTATES}'/>
               <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>
             </message>"
        ),
    )
    .await;
    // Then each state on its own: a message with nothing but the state.
    for (i, state) in ["active", "composing", "paused", "inactive", "gone"].iter().enumerate() {
        relay(
            &mut bob,
            &mut alice,
            &format!(
                "<message to='{a}' type='chat' id='cs-b{i}'>
                   <{state} xmlns='{NS_CHATSTATES}'/>
                   <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>
                 </message>"
            ),
        )
        .await;
        relay(
            &mut alice,
            &mut bob,
            &format!("<message to='{b}' type='chat' id='cs-a{i}'><{state} xmlns='{NS_CHATSTATES}'/></message>"),
        )
        .await;
    }
}

// ---------------------------------------------------------------- XEP-0184

async fn receipts(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "rc").await;
    let (a, b) = (jid(&alice), jid(&bob));
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' type='chat' id='ot-3.1.115'>
               <body>Honest Iago, my Desdemona must I leave to thee.</body>
               <request xmlns='{NS_RECEIPTS}'/>
             </message>"
        ),
    )
    .await;
    // The receipt carries the id of the message it acknowledges, in a message of its own.
    let got = relay(
        &mut bob,
        &mut alice,
        &format!("<message to='{a}' id='rcpt-7f3a'><received xmlns='{NS_RECEIPTS}' id='ot-3.1.115'/></message>"),
    )
    .await;
    assert_eq!(got.child("received", NS_RECEIPTS).and_then(|r| r.attr("id")), Some("ot-3.1.115"), "{got}");
    // A receipt for an id bob never got is none of the server's business either.
    relay(
        &mut bob,
        &mut alice,
        &format!("<message to='{a}' id='rcpt-7f3b'><received xmlns='{NS_RECEIPTS}' id='never-sent'/></message>"),
    )
    .await;
}

// ---------------------------------------------------------------- XEP-0224

async fn attention(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "at").await;
    let b = jid(&bob);
    relay(
        &mut alice,
        &mut bob,
        &format!("<message to='{b}' type='headline' id='buzz-1'><attention xmlns='{NS_ATTENTION}'/></message>"),
    )
    .await;
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' type='headline' id='buzz-2'>
               <body>Wake up, the build is red!</body>
               <attention xmlns='{NS_ATTENTION}'/>
             </message>"
        ),
    )
    .await;
}

// ---------------------------------------------------------------- XEP-0144

fn rosterx_items() -> String {
    format!(
        "<x xmlns='{NS_ROSTERX}'>
           <item action='add' jid='horatio@wittenberg.example' name='Horatio'><group>Friends</group></item>
           <item action='modify' jid='marcellus@elsinore.example' name='Marcellus'>
             <group>Guards</group><group>Night shift</group>
           </item>
           <item action='delete' jid='polonius@elsinore.example'/>
         </x>"
    )
}

async fn roster_item_exchange(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "rx").await;
    let (a, b) = (jid(&alice), jid(&bob));
    let items = rosterx_items();
    // As a message, with a note for the human.
    relay(
        &mut alice,
        &mut bob,
        &format!("<message to='{b}' id='rx-m1'><body>Some people you should know</body>{items}</message>"),
    )
    .await;
    // As an iq set to a full JID, and its empty result back.
    relay(&mut alice, &mut bob, &format!("<iq type='set' to='{b}' id='rx-i1'>{items}</iq>")).await;
    relay(&mut bob, &mut alice, &format!("<iq type='result' to='{a}' id='rx-i1'/>")).await;
    // Refused, with an error the server must carry back unchanged too.
    relay(&mut alice, &mut bob, &format!("<iq type='set' to='{b}' id='rx-i2'>{items}</iq>")).await;
    relay(
        &mut bob,
        &mut alice,
        &format!(
            "<iq type='error' to='{a}' id='rx-i2'>{items}
               <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>
             </iq>"
        ),
    )
    .await;
}

// ---------------------------------------------------------------- XEP-0155

async fn stanza_session_negotiation(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "ssn").await;
    let (a, b) = (jid(&alice), jid(&bob));
    let thread = "7d3b6ac9c01e4fa3";
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' type='normal' id='ssn-1'>
               <thread>{thread}</thread>
               <feature xmlns='{NS_FEATURE_NEG}'>
                 <x xmlns='{NS_DATA}' type='form'>
                   <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:ssn</value></field>
                   <field var='accept' type='boolean'><value>true</value><required/></field>
                   <field var='logging' type='list-single'>
                     <option><value>may</value></option>
                     <option><value>mustnot</value></option>
                     <value>may</value>
                   </field>
                   <field var='disclosure' type='list-single'>
                     <option><value>never</value></option>
                     <value>never</value>
                   </field>
                   <field var='http://jabber.org/protocol/chatstates' type='list-single'>
                     <option><value>may</value></option>
                     <option><value>mustnot</value></option>
                     <value>may</value>
                   </field>
                 </x>
               </feature>
             </message>"
        ),
    )
    .await;
    relay(
        &mut bob,
        &mut alice,
        &format!(
            "<message to='{a}' type='normal' id='ssn-2'>
               <thread>{thread}</thread>
               <feature xmlns='{NS_FEATURE_NEG}'>
                 <x xmlns='{NS_DATA}' type='submit'>
                   <field var='FORM_TYPE'><value>urn:xmpp:ssn</value></field>
                   <field var='accept'><value>1</value></field>
                   <field var='logging'><value>mustnot</value></field>
                   <field var='disclosure'><value>never</value></field>
                   <field var='http://jabber.org/protocol/chatstates'><value>may</value></field>
                 </x>
               </feature>
             </message>"
        ),
    )
    .await;
}

// ---------------------------------------------------------------- XEP-0245

async fn me_command(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "me").await;
    let (a, b) = (jid(&alice), jid(&bob));
    let got = relay(
        &mut alice,
        &mut bob,
        &format!("<message to='{b}' type='chat' id='me-1'><body>/me waves from the back row</body></message>"),
    )
    .await;
    assert_eq!(waxwing_tests::body(&got), "/me waves from the back row");
    // The command only counts at the very start; the text, spaces and all, is the client's.
    relay(
        &mut bob,
        &mut alice,
        &format!("<message to='{a}' type='chat' id='me-2'><body>/me  grins &amp; says &lt;hi&gt;</body></message>"),
    )
    .await;
    relay(
        &mut bob,
        &mut alice,
        &format!("<message to='{a}' type='chat' id='me-3'><body>I said /me too</body></message>"),
    )
    .await;
}

// ---------------------------------------------------------------- XEP-0249

async fn direct_muc_invitation(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "inv").await;
    let b = jid(&bob);
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' id='inv-1'>
               <x xmlns='{NS_CONFERENCE}' jid='orchestra@rooms.example.org' password='allegro'
                  reason='We are tuning up in here, bring your cello'/>
             </message>"
        ),
    )
    .await;
    // Continuing a one-to-one chat in a room.
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{b}' id='inv-2'>
               <x xmlns='{NS_CONFERENCE}' jid='orchestra@rooms.example.org' continue='true' thread='9b2e1f'/>
             </message>"
        ),
    )
    .await;
}

// ------------------------------------------------------ XEP-0166 + XEP-0167

fn rtp_content() -> String {
    format!(
        "<content creator='initiator' name='voice' senders='both'>
           <description xmlns='{NS_JINGLE_RTP}' media='audio'>
             <payload-type id='111' name='opus' clockrate='48000' channels='2'>
               <parameter name='minptime' value='10'/>
               <parameter name='useinbandfec' value='1'/>
             </payload-type>
             <payload-type id='9' name='G722' clockrate='8000'/>
             <payload-type id='0' name='PCMU' clockrate='8000'/>
             <payload-type id='101' name='telephone-event' clockrate='8000'/>
             <rtcp-mux/>
           </description>
           <transport xmlns='{NS_ICE_UDP}' ufrag='Yh7q' pwd='asd88fgpdd777uzjYhagZg'>
             <candidate component='1' foundation='1' generation='0' id='c-host-1'
                        ip='192.0.2.14' network='0' port='50122' priority='2130706431'
                        protocol='udp' type='host'/>
             <candidate component='1' foundation='2' generation='0' id='c-srflx-1'
                        ip='198.51.100.7' network='0' port='61043' priority='1694498815'
                        protocol='udp' rel-addr='192.0.2.14' rel-port='50122' type='srflx'/>
           </transport>
         </content>"
    )
}

async fn jingle_rtp_session(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "jg").await;
    let (a, b) = (jid(&alice), jid(&bob));
    let sid = "851ba2ee4a";
    let content = rtp_content();
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<iq type='set' to='{b}' id='jg-1'>
               <jingle xmlns='{NS_JINGLE}' action='session-initiate' initiator='{a}' sid='{sid}'>{content}</jingle>
             </iq>"
        ),
    )
    .await;
    relay(&mut bob, &mut alice, &format!("<iq type='result' to='{a}' id='jg-1'/>")).await;
    // Ringing, as a session-info.
    relay(
        &mut bob,
        &mut alice,
        &format!(
            "<iq type='set' to='{a}' id='jg-2'>
               <jingle xmlns='{NS_JINGLE}' action='session-info' initiator='{a}' sid='{sid}'>
                 <ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>
               </jingle>
             </iq>"
        ),
    )
    .await;
    relay(&mut alice, &mut bob, &format!("<iq type='result' to='{b}' id='jg-2'/>")).await;
    relay(
        &mut bob,
        &mut alice,
        &format!(
            "<iq type='set' to='{a}' id='jg-3'>
               <jingle xmlns='{NS_JINGLE}' action='session-accept' initiator='{a}' responder='{b}' sid='{sid}'>
                 {content}
               </jingle>
             </iq>"
        ),
    )
    .await;
    relay(&mut alice, &mut bob, &format!("<iq type='result' to='{b}' id='jg-3'/>")).await;
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<iq type='set' to='{b}' id='jg-4'>
               <jingle xmlns='{NS_JINGLE}' action='session-terminate' sid='{sid}'>
                 <reason><success/><text>Talk to you tomorrow</text></reason>
               </jingle>
             </iq>"
        ),
    )
    .await;
    relay(&mut bob, &mut alice, &format!("<iq type='result' to='{a}' id='jg-4'/>")).await;
    // A terminate for a session bob no longer knows: his error comes back as he wrote it.
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<iq type='set' to='{b}' id='jg-5'>
               <jingle xmlns='{NS_JINGLE}' action='session-terminate' sid='{sid}'><reason><success/></reason></jingle>
             </iq>"
        ),
    )
    .await;
    relay(
        &mut bob,
        &mut alice,
        &format!(
            "<iq type='error' to='{a}' id='jg-5'>
               <error type='cancel'>
                 <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                 <unknown-session xmlns='{NS_JINGLE_ERRORS}'/>
               </error>
             </iq>"
        ),
    )
    .await;
}

// ------------------------------------------------- offline resources (§8.5.3.2)

/// RFC 6121 §8.5.3.2.1: a message of type normal, chat or headline to a
/// resource that is not online is handled as if sent to the bare JID: here,
/// bob's other, available resource gets it (addressed as sent).
async fn message_to_an_offline_resource_goes_to_the_bare_jid(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "gone_msg").await;
    let gone = "gone_msg_bob@localhost/phone";
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<message to='{gone}' type='chat' id='gm-1'>
               <body>Did you get my file?</body>
               <active xmlns='{NS_CHATSTATES}'/>
               <request xmlns='{NS_RECEIPTS}'/>
             </message>"
        ),
    )
    .await;
    relay(
        &mut alice,
        &mut bob,
        &format!("<message to='{gone}' id='gm-2'><x xmlns='{NS_CONFERENCE}' jid='lobby@rooms.example.org'/></message>"),
    )
    .await;
    relay(
        &mut alice,
        &mut bob,
        &format!("<message to='{gone}' type='headline' id='gm-3'><attention xmlns='{NS_ATTENTION}'/></message>"),
    )
    .await;
    // A groupchat message to a resource that is not online bounces instead (§8.5.3.2.1).
    alice.send(&format!("<message to='{gone}' type='groupchat' id='gm-4'><body>all hands</body></message>")).await;
    let e = error_reply(&mut alice, "message", "gm-4").await;
    assert_error(&e, "service-unavailable", "cancel");
    let leaked = received_before_marker(&mut alice, &mut bob, "gm-marker").await;
    assert!(leaked.iter().all(|e| e.attr("id") != Some("gm-4")), "the groupchat message was delivered: {leaked:?}");
}

/// §8.5.3.2.2: an iq get or set to a resource that is not online gets
/// service-unavailable from the server; nothing reaches the other resource.
async fn iq_to_an_offline_resource_is_service_unavailable(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "gone_iq").await;
    let a = jid(&alice);
    let gone = "gone_iq_bob@localhost/laptop";
    let content = rtp_content();
    alice
        .send(&compact(&format!(
            "<iq type='set' to='{gone}' id='gi-1'>
               <jingle xmlns='{NS_JINGLE}' action='session-initiate' initiator='{a}' sid='0ff1ce'>{content}</jingle>
             </iq>"
        )))
        .await;
    let e = error_reply(&mut alice, "iq", "gi-1").await;
    assert_error(&e, "service-unavailable", "cancel");
    assert_eq!(e.attr("from"), Some(gone), "{e}");
    assert_eq!(e.attr("to"), Some(a.as_str()), "{e}");
    alice.send(&format!("<iq type='set' to='{gone}' id='gi-2'>{}</iq>", compact(&rosterx_items()))).await;
    let e = error_reply(&mut alice, "iq", "gi-2").await;
    assert_error(&e, "service-unavailable", "cancel");
    // The same to a resource of an account that does not exist.
    alice
        .send(&format!("<iq type='set' to='nobody_here@localhost/x' id='gi-3'>{}</iq>", compact(&rosterx_items())))
        .await;
    let e = error_reply(&mut alice, "iq", "gi-3").await;
    assert_error(&e, "service-unavailable", "cancel");
    // A result or error to a resource that is gone is dropped without an answer.
    alice.send(&format!("<iq type='result' to='{gone}' id='gi-4'/>")).await;
    alice
        .send(&format!(
            "<iq type='error' to='{gone}' id='gi-5'><error type='cancel'>\
             <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ))
        .await;
    let before = received_before_ping(&mut alice, "gi-ping").await;
    assert!(
        before.iter().all(|e| !matches!(e.attr("id"), Some("gi-4" | "gi-5"))),
        "a result or error to an offline resource was answered: {before:?}"
    );
    let leaked = received_before_marker(&mut alice, &mut bob, "gi-marker").await;
    // (Roster pushes from the server may come meanwhile; nothing from alice may.)
    assert!(leaked.iter().all(|e| e.attr("from") != Some(a.as_str())), "an iq reached the other resource: {leaked:?}");
}

/// §8.5.3.2.3: available and unavailable presence to a resource that is not
/// online are dropped: no error to the sender, nothing to the other resource.
async fn presence_to_an_offline_resource_is_dropped(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "gone_pres").await;
    let gone = "gone_pres_bob@localhost/tablet";
    alice.send(&format!("<presence to='{gone}' id='gp-1'><show>dnd</show><status>in a call</status></presence>")).await;
    alice.send(&format!("<presence to='{gone}' type='unavailable' id='gp-2'/>")).await;
    let before = received_before_ping(&mut alice, "gp-ping").await;
    assert!(before.iter().all(|e| e.attr("type") != Some("error")), "directed presence bounced: {before:?}");
    let leaked = received_before_marker(&mut alice, &mut bob, "gp-marker").await;
    assert!(
        leaked.iter().all(|e| !matches!(e.attr("id"), Some("gp-1" | "gp-2"))),
        "presence for an offline resource reached another: {leaked:?}"
    );
    // Directed presence to the resource that is online arrives as sent.
    let b = jid(&bob);
    relay(
        &mut alice,
        &mut bob,
        &format!(
            "<presence to='{b}' id='gp-3'><show>away</show><status>back soon</status><priority>-1</priority></presence>"
        ),
    )
    .await;
}

/// No resource of bob's is online: RFC 6121 §8.5.2.2.1 lets the server
/// either refuse a chat message (service-unavailable, the default config) or
/// keep it (XEP-0160, the offline plugin) for his next login, stamped with a
/// XEP-0203 delay and otherwise as sent.
async fn message_when_no_resource_is_online(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let mut alice = login(s, "nobody_on_alice", "a1").await;
    alice.available(0).await;
    let a = jid(&alice);
    let xml = compact(&format!(
        "<message to='nobody_on_bob@localhost/desk' type='chat' id='no-1'>
           <body>Call me when you are back</body>
           <active xmlns='{NS_CHATSTATES}'/>
           <request xmlns='{NS_RECEIPTS}'/>
         </message>"
    ));
    alice.send(&xml).await;
    if !setup.stores_offline_messages() {
        let e = error_reply(&mut alice, "message", "no-1").await;
        assert_error(&e, "service-unavailable", "cancel");
        return;
    }
    let before = received_before_ping(&mut alice, "no-ping").await;
    assert!(before.iter().all(|e| e.attr("id") != Some("no-1")), "the message bounced: {before:?}");
    let mut bob = login(s, "nobody_on_bob", "desk").await;
    bob.send("<presence/>").await;
    let got = bob.next_where("the message kept for bob", |e| e.name == "message" && e.attr("id") == Some("no-1")).await;
    let delay = got.child("delay", NS_DELAY).unwrap_or_else(|| panic!("no XEP-0203 delay: {got}"));
    let stamp = delay.attr("stamp").unwrap_or_else(|| panic!("a delay without a stamp: {got}"));
    assert!(stamp.len() >= 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "stamp {stamp:?}: {got}");
    assert_eq!(got.attr("from"), Some(a.as_str()), "{got}");
    assert_eq!(got.attr("type"), Some("chat"), "{got}");
    // Apart from the delay (and where it is addressed) it is the message as sent.
    let sent = parse_stanza(&xml).expect("the test's own stanza");
    let payload =
        |m: &Element| -> Vec<Element> { m.elements().filter(|e| !e.is("delay", NS_DELAY)).cloned().collect() };
    assert_eq!(payload(&got), payload(&sent), "the kept message changed\nsent: {xml}\nreceived: {got}");
}

// -------------------------------------------------------------- bad input

async fn malformed_stanzas_are_refused_and_the_server_keeps_running(setup: Setup) {
    let s = server(setup);
    let _log = s.log_on_panic();
    let (mut alice, mut bob) = pair(setup, "bad").await;
    let (a, b) = (jid(&alice), jid(&bob));
    let jingle = |action: &str| {
        format!(
            "<jingle xmlns='{NS_JINGLE}' action='{action}' initiator='{a}' sid='bad5e55'>{}</jingle>",
            rtp_content()
        )
    };
    let initiate = compact(&jingle("session-initiate"));
    let terminate = compact(&jingle("session-terminate"));

    // An iq set carries exactly one child (RFC 6120 §8.2.3).
    alice.send(&format!("<iq type='set' to='{b}' id='bad-1'>{initiate}{terminate}</iq>")).await;
    assert_error(&error_reply(&mut alice, "iq", "bad-1").await, "bad-request", "modify");
    alice.send(&format!("<iq type='set' to='{b}' id='bad-2'/>")).await;
    assert_error(&error_reply(&mut alice, "iq", "bad-2").await, "bad-request", "modify");
    alice
        .send(&format!(
            "<iq type='get' to='{b}' id='bad-3'><query xmlns='{NS_ROSTERX}'/>{}</iq>",
            compact(&rosterx_items())
        ))
        .await;
    assert_error(&error_reply(&mut alice, "iq", "bad-3").await, "bad-request", "modify");
    // An iq without an id, and one of a type that does not exist.
    alice.send(&format!("<iq type='set' to='{b}'>{initiate}</iq>")).await;
    let e = alice
        .next_where("the error for an iq without id", |e| {
            e.name == "iq" && e.attr("type") == Some("error") && e.attr("id").is_none_or(str::is_empty)
        })
        .await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("bad-request"), "{e}");
    alice.send(&format!("<iq type='offer' to='{b}' id='bad-4'>{initiate}</iq>")).await;
    assert_error(&error_reply(&mut alice, "iq", "bad-4").await, "bad-request", "modify");
    // Addresses that are not JIDs.
    alice
        .send(&format!(
            "<message to='bad_bob@@localhost/b1' id='bad-5'><request xmlns='{NS_RECEIPTS}'/><body>x</body></message>"
        ))
        .await;
    assert_eq!(
        stanza_error_condition(&error_reply(&mut alice, "message", "bad-5").await).as_deref(),
        Some("jid-malformed")
    );
    alice.send(&format!("<iq type='set' to='bad_bob@localhost/{}' id='bad-6'>{initiate}</iq>", "r".repeat(1100))).await;
    assert_eq!(stanza_error_condition(&error_reply(&mut alice, "iq", "bad-6").await).as_deref(), Some("jid-malformed"));
    // A presence type that does not exist.
    alice.send(&format!("<presence to='{b}' type='ringing' id='bad-7'/>")).await;
    assert_error(&error_reply(&mut alice, "presence", "bad-7").await, "bad-request", "modify");

    // None of it reached bob: the first thing he gets is the marker.
    let leaked = received_before_marker(&mut alice, &mut bob, "bad-marker").await;
    assert!(leaked.iter().all(|e| e.attr("from") != Some(a.as_str())), "bob got stanzas that were refused: {leaked:?}");

    // Both streams are still open and the server still routes: a whole
    // Jingle exchange on the same connections, and a fresh login.
    relay(&mut alice, &mut bob, &format!("<iq type='set' to='{b}' id='bad-ok-1'>{initiate}</iq>")).await;
    relay(&mut bob, &mut alice, &format!("<iq type='result' to='{a}' id='bad-ok-1'/>")).await;
    let mut late = login(s, "late_alice", "fresh").await;
    relay(
        &mut late,
        &mut bob,
        &format!("<message to='{b}' type='chat' id='bad-ok-2'><composing xmlns='{NS_CHATSTATES}'/></message>"),
    )
    .await;
    late.close().await;
}
