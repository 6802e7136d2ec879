//! XEP-0009 Jabber-RPC for administration: XML-RPC calls in an iq `set` to
//! the host's JID, answered for the admins its config names (`[[vhost]]
//! admins`); anyone else gets `forbidden`, and a query that is not an
//! XML-RPC `<methodCall/>` gets `bad-request`.
//!
//! The methods, named as in ejabberd's XML-RPC admin API. Every parameter is
//! a string, given in order or (as ejabberd's clients send them) as the
//! members of one struct, where a `host` member must name this host; `user`
//! is a username or the bare JID of one of the host's accounts:
//!
//! | method | returns |
//! | --- | --- |
//! | `register(user, password)` | 0 |
//! | `unregister(user)` | 0 |
//! | `change_password(user, newpass)` | 0 |
//! | `connected_users()` | array of every session's full JID |
//! | `registered_users()` | array of every account's bare JID |
//! | `send_message(to, subject, body)` | 0; a `normal` message from the host, no subject when empty |
//! | `stats(name)` | int: `name` is `registeredusers` or `onlineusers` (sessions) |
//!
//! A method that fails answers a `<fault/>` with the codes of the XML-RPC
//! fault code interoperability spec: -32601 unknown method, -32602 wrong
//! parameters, -32500 refused (the account exists, there is no such account,
//! an unacceptable password or username: the kernel's reason as the
//! `faultString`).

mod methods;
mod xmlrpc;

use waxwing_sdk::prelude::*;

use crate::methods::Failure;
use crate::xmlrpc::NS;

struct Rpc;

impl Plugin for Rpc {
    fn describe() -> Describe {
        Describe::new("rpc", env!("CARGO_PKG_VERSION"))
            .feature(NS)
            .identity("automation", "rpc", "Jabber-RPC")
            .route(Route::iq_set().payload(NS, "query").to(Address::Host))
            .capabilities([Capability::Sessions, Capability::Route, Capability::Accounts])
    }

    fn on_iq(iq: Iq) -> Handled {
        // Admins only, before anything of the call is read.
        if !waxwing_sdk::is_admin(iq.from()) {
            return Err(StanzaError::new(Condition::Forbidden).with_text("Jabber-RPC is for this host's admins"));
        }
        let call =
            xmlrpc::parse_call(iq.payload()?).map_err(|why| StanzaError::new(Condition::BadRequest).with_text(why))?;
        let answer = match methods::run(&call) {
            Ok(value) => Ok(value),
            Err(Failure::Fault(fault)) => Err(fault),
            Err(Failure::Error(e)) => return Err(e),
        };
        iq.reply_with(xmlrpc::response(&answer))
    }
}

waxwing_sdk::export_plugin!(Rpc);

#[cfg(test)]
mod tests;
