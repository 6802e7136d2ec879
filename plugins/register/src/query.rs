//! Reading a `<query xmlns='jabber:iq:register'/>` set: the legacy fields,
//! an XEP-0004 form (XEP-0077 §4, with XEP-0158 fields), or `<remove/>`.

use waxwing_sdk::forms::{DataForm, FormKind};
use waxwing_sdk::prelude::*;

use crate::captcha::NS_CAPTCHA;

pub const NS_REGISTER: &str = "jabber:iq:register";
/// XEP-0077 §3.3's form for a password change.
pub const NS_CHANGE_PASSWORD: &str = "jabber:iq:register:changepassword";

/// What a set asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Cancel the registration (XEP-0077 §3.2).
    Remove,
    /// Register, or change the password when already registered.
    Submit(Submission),
}

/// The values a client filled in; an empty value counts as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    pub username: Option<String>,
    pub password: Option<String>,
    /// XEP-0158 `challenge`: the id the form carried.
    pub challenge: Option<String>,
    /// XEP-0158 `qa`: the answer to the question.
    pub answer: Option<String>,
}

pub fn parse(query: &Element) -> Result<Request, StanzaError> {
    if query.child("remove", NS_REGISTER).is_some() {
        // XEP-0077 §3.2: a cancellation carries nothing else, so a client
        // that mixed it with fields gets told rather than guessed at.
        if query.elements().count() > 1 {
            return Err(bad_request("<remove/> must be the only child of <query/>"));
        }
        return Ok(Request::Remove);
    }
    let mut submission = Submission {
        username: legacy_field(query, "username")?,
        password: legacy_field(query, "password")?,
        ..Submission::default()
    };
    if let Some(form) = DataForm::find_in(query) {
        let form = form?;
        read_form(&form, &mut submission)?;
    }
    Ok(Request::Submit(submission))
}

/// The text of `<name/>`; more than one is ambiguous.
fn legacy_field(query: &Element, name: &str) -> Result<Option<String>, StanzaError> {
    let mut found = query.elements().filter(|e| e.is(name, NS_REGISTER));
    let first = found.next();
    if found.next().is_some() {
        return Err(bad_request(format!("more than one <{name}/>")));
    }
    Ok(first.map(Element::text).filter(|t| !t.is_empty()))
}

/// Form values win over legacy ones: a client that sends both filled in the form.
fn read_form(form: &DataForm, submission: &mut Submission) -> Result<(), StanzaError> {
    if form.kind != FormKind::Submit {
        return Err(bad_request("the registration form must be submitted with type 'submit'"));
    }
    match form.form_type() {
        None | Some(NS_REGISTER | NS_CAPTCHA | NS_CHANGE_PASSWORD) => {}
        Some(other) => return Err(bad_request(format!("'{other}' is not a registration form"))),
    }
    let value = |var: &str| form.value(var).filter(|v| !v.is_empty()).map(str::to_owned);
    submission.username = value("username").or(submission.username.take());
    submission.password = value("password").or(submission.password.take());
    submission.challenge = value("challenge");
    submission.answer = value("qa");
    Ok(())
}

fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_xml(xml: &str) -> Result<Request, StanzaError> {
        parse(&Element::parse(xml).unwrap())
    }

    fn submission(xml: &str) -> Submission {
        match parse_xml(xml) {
            Ok(Request::Submit(s)) => s,
            other => panic!("expected a submission from {xml}: {other:?}"),
        }
    }

    #[test]
    fn legacy_fields() {
        let s = submission(
            "<query xmlns='jabber:iq:register'><username>bill</username><password>Calliope</password>\
             <email>b@example.org</email></query>",
        );
        assert_eq!(s.username.as_deref(), Some("bill"));
        assert_eq!(s.password.as_deref(), Some("Calliope"));
        assert_eq!((s.challenge, s.answer), (None, None));
    }

    #[test]
    fn empty_and_missing_fields_are_not_given() {
        let s = submission("<query xmlns='jabber:iq:register'><username/><password></password></query>");
        assert_eq!(s, Submission::default());
        assert_eq!(submission("<query xmlns='jabber:iq:register'/>"), Submission::default());
        // Elements of other namespaces are not the fields.
        let s = submission("<query xmlns='jabber:iq:register'><username xmlns='urn:x'>bill</username><junk/></query>");
        assert_eq!(s, Submission::default());
    }

    #[test]
    fn captcha_form_values_win_over_legacy_fields() {
        let s = submission(
            "<query xmlns='jabber:iq:register'><username>legacy</username>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>\
             <field var='challenge'><value>abc</value></field><field var='sid'><value>reg1</value></field>\
             <field var='qa'><value>Four</value></field>\
             <field var='username'><value>bill</value></field><field var='password'><value>pw</value></field>\
             </x></query>",
        );
        assert_eq!(s.username.as_deref(), Some("bill"));
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(s.challenge.as_deref(), Some("abc"));
        assert_eq!(s.answer.as_deref(), Some("Four"));
    }

    #[test]
    fn a_form_without_a_value_keeps_the_legacy_one() {
        let s = submission(
            "<query xmlns='jabber:iq:register'><username>bill</username>\
             <x xmlns='jabber:x:data' type='submit'><field var='password'><value>pw</value></field></x></query>",
        );
        assert_eq!((s.username.as_deref(), s.password.as_deref()), (Some("bill"), Some("pw")));
    }

    #[test]
    fn remove_must_stand_alone() {
        assert_eq!(parse_xml("<query xmlns='jabber:iq:register'><remove/></query>"), Ok(Request::Remove));
        let err = parse_xml("<query xmlns='jabber:iq:register'><remove/><username>u</username></query>").unwrap_err();
        assert_eq!(err.condition, Condition::BadRequest);
    }

    #[test]
    fn malformed_input_is_bad_request() {
        for xml in [
            "<query xmlns='jabber:iq:register'><username>a</username><username>b</username></query>",
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data'/></query>",
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'/></query>",
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>urn:other</value></field></x></query>",
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field/></x></query>",
        ] {
            assert_eq!(parse_xml(xml).unwrap_err().condition, Condition::BadRequest, "{xml}");
        }
    }
}
